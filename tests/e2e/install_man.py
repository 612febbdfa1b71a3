#!/usr/bin/env python3
"""install_man.py BUILD_DIR SOURCE_DIR: the man pages say what the programs'
help says (issue #17). For each command of `trajstore help`, the options of
`trajstore help COMMAND` must be those of the man page's section
"## trajstore COMMAND" (docs/man/trajstore.1.scd), and the reverse; for
each other program, the options of its --help must be those of its page.
FILTERS in a synopsis stands for list's filter options. --help is left
out (every page says it once). The generated pages must exist too."""
import gzip, os, re, subprocess, sys

build, src = sys.argv[1], sys.argv[2]
mandir = os.path.join(src, "docs", "man")
OPT = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
failures = []


def opts(text):
    return set(OPT.findall(text)) - {"--help"}


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


cli = os.path.join(build, "tools", "trajstore")
commands = re.findall(r"^  trajstore ([a-z]+)", run(cli, "help"), re.M)
if len(commands) < 10:
    failures.append(f"trajstore help lists {len(commands)} commands: {commands}")

# FILTERS, as list's help defines it
list_help = run(cli, "help", "list")
m = re.search(r"FILTERS:(.*?)\n\s*--sort", list_help, re.S)
filters = opts(m.group(1)) if m else set()
if not filters:
    failures.append("trajstore help list does not define FILTERS")

page = open(os.path.join(mandir, "trajstore.1.scd")).read()
sections = {}
for m in re.finditer(r"^## trajstore ([a-z]+)(.*?)(?=^## |^# )", page, re.S | re.M):
    sections[m.group(1)] = m.group(2)

for cmd in commands:
    helptext = run(cli, "help", cmd)
    want = opts(helptext) | (filters if "FILTERS" in helptext else set())
    if cmd not in sections:
        failures.append(f"trajstore.1: no section for `trajstore {cmd}`")
        continue
    have = opts(sections[cmd])
    if want - have:
        failures.append(f"trajstore.1, {cmd}: missing {sorted(want - have)} (in `trajstore help {cmd}`)")
    if have - want:
        failures.append(f"trajstore.1, {cmd}: has {sorted(have - want)}, not in `trajstore help {cmd}`")
for cmd in sections.keys() - set(commands):
    failures.append(f"trajstore.1 documents `trajstore {cmd}`, which trajstore help does not list")

programs = {"trajstore-producer": ("producer", 1), "trajstore-gen": ("tools", 1),
            "trajstore-aggregator": ("aggregator", 8), "trajstore-worker": ("workers", 8),
            "trajstore-api": ("api", 8)}
if os.path.exists(os.path.join(build, "http", "trajstore-http")):
    programs["trajstore-http"] = ("http", 8)
for prog, (folder, section) in programs.items():
    path = os.path.join(mandir, f"{prog}.{section}.scd")
    if not os.path.exists(path):
        failures.append(f"no man page {prog}({section}) (docs/man/{prog}.{section}.scd)")
        continue
    want = opts(run(os.path.join(build, folder, prog), "--help"))
    have = opts(open(path).read()) - {"--version"}
    want -= {"--version"}
    if want != have:
        failures.append(f"{prog}({section}): missing {sorted(want - have)}, extra {sorted(have - want)}")

# every source page was generated, and is a man page
for name in sorted(os.listdir(mandir)):
    if not name.endswith(".scd") or (name.startswith("trajstore-http.")
                                     and "trajstore-http" not in programs):
        continue
    out = os.path.join(build, "man", name[:-4] + ".gz")
    try:
        roff = gzip.open(out, "rt").read()
        if not roff.startswith(".\\\"") and ".TH" not in roff:
            failures.append(f"{out}: not a man page")
    except OSError as e:
        failures.append(f"{out}: {e}")

for f in failures:
    print("FAIL", f)
print(f"{len(commands)} commands and {len(programs)} programs checked against their man pages")
sys.exit(1 if failures else 0)
