#!/bin/sh
# Build a wheel and install it into fresh virtual environments, as a user would (not the developer install):
#   1. no extras: the main job runs; `graph` says in one line what to install; the wheel carries its licence,
#      the digits' attribution and py.typed;
#   2. with [viz]: a graph is rendered (needs Graphviz's `dot` on PATH).
# Needs network access to PyPI (or a local index / pip cache) for numpy and graphviz.
# Usage, from the repository root:  sh examples/check_install.sh   (exit status 0 when every check passed)
set -eu
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python3}
fail() { echo "check_install: FAILED: $*" >&2; exit 1; }

mkdir "$work/src"   # build from a clean copy of the tree (no stale build/ or *.egg-info of earlier builds)
git -C "$repo" ls-files -co --exclude-standard | (cd "$repo" && tar -cf - -T -) | tar -xf - -C "$work/src"
"$python" -m pip wheel "$work/src" --no-deps -q -w "$work/dist"
wheel=$(ls "$work"/dist/tinygrad_nn-*.whl)
echo "built $(basename "$wheel")"
"$python" -m zipfile -l "$wheel" > "$work/contents"
for f in tinygrad_nn/py.typed tinygrad_nn/datasets/digits.csv.gz tinygrad_nn/datasets/README.md viz/py.typed LICENSE; do
    grep -q "$f" "$work/contents" || fail "the wheel lacks $f"
done

"$python" -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); m = [n for n in z.namelist() if n.endswith('METADATA')][0]; print(z.read(m).decode())" "$wheel" > "$work/METADATA"
grep -q "^License-Expression: MIT" "$work/METADATA" || fail "the wheel's metadata names no MIT licence"
"$python" -m venv "$work/plain"            # no --system-site-packages: nothing but the wheel and numpy
"$work/plain/bin/pip" install -q "$wheel"
cd "$work"
env -u PYTHONPATH "$work/plain/bin/python" -m pip list --format=freeze
for m in graphviz tqdm threadpoolctl matplotlib; do
    if env -u PYTHONPATH "$work/plain/bin/python" -c "import $m" 2>/dev/null; then fail "$m is installed without extras"; fi
done
env -u PYTHONPATH "$work/plain/bin/tinygrad-nn" --version
env -u PYTHONPATH "$work/plain/bin/python" -m tinygrad_nn train --epochs 2 || fail "train without extras"
set +e
env -u PYTHONPATH "$work/plain/bin/python" -m tinygrad_nn graph --sizes 2,3,1 -o g.svg 2> graph.err
status=$?
set -e
cat graph.err
[ "$status" = 1 ] && [ "$(wc -l < graph.err)" = 1 ] && grep -q "tinygrad_nn\[viz\]" graph.err \
    || fail "graph without graphviz: expected one line naming tinygrad_nn[viz] and exit 1, got exit $status"
[ ! -e g.svg ] || fail "graph without graphviz wrote g.svg"

"$python" -m venv "$work/viz"
"$work/viz/bin/pip" install -q "$wheel[viz]"
env -u PYTHONPATH "$work/viz/bin/python" -m tinygrad_nn graph --sizes 2,3,1 -o g.svg || fail "graph with [viz]"
grep -q "<svg" g.svg || fail "g.svg is not an SVG"
env -u PYTHONPATH "$work/viz/bin/python" -m tinygrad_nn graph --network --sizes 64,30,10 --delta -o net.png \
    || fail "network picture with [viz]"
echo "check_install: all checks passed"
