#!/usr/bin/env bash
# The acceptance of an installed harness (make install-check; minutes, so not part of make test): in a fresh
# venv, `pip install .` of a fresh clone (not editable), then `unlearning-harness score` from another
# directory scores a submission there, sandboxed, and writes score.json. Cleans up after itself.
set -euo pipefail
REPO=${REPO:-$(git rev-parse --show-toplevel)}
PYTHON=${PYTHON:-python3}
N=${N:-8}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

git clone --quiet "$REPO" "$WORK/clone"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet torch==2.14.1 torchvision==0.29.1
"$WORK/venv/bin/pip" install --quiet "$WORK/clone"
rm -rf "$WORK/clone"  # the installed harness must not need its checkout
mkdir -p "$WORK/elsewhere" "$WORK/mine"
"$WORK/venv/bin/python" -c "from harness.resources import template_source; print(template_source(), end='')" > /dev/null
cp "$REPO/baselines/finetune.py" "$WORK/mine/mine.py"
cd "$WORK/elsewhere"
"$WORK/venv/bin/unlearning-harness" score "$WORK/mine/mine.py" --n-models "$N" --jobs 2
test -s results/digits-mlp/mine/score.json
grep -q '"mechanism": "bubblewrap"' results/digits-mlp/mine/score.json
echo "install-check: ok: $(pwd)/results/digits-mlp/mine/score.json written, sandboxed, by an installed harness"
