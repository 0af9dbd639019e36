# Sourced by test.sh and demo.sh: make ./.venv (or $HYPERSPHERE_VENV) with torch and the
# package installed, and set $py to its python.
#
# torch is installed only if the environment has none: the CPU build on machines without an
# NVIDIA GPU (an unpinned torch would pull several GB of CUDA packages), the default build where
# `nvidia-smi` sees a GPU. The package's own torch requirement is a lower bound, so an existing
# torch is never replaced (checked below).
venv=${HYPERSPHERE_VENV:-.venv}
torch_version=${HYPERSPHERE_TORCH_VERSION:-2.13.0}
python=${PYTHON:-python3}
extras=${1:-test}

if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating virtual environment in $venv"
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

if ! "$py" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "==> installing torch (GPU found)"
        "${pip[@]}" "torch>=2.1"
    elif "$py" -m pip download --quiet --no-deps --no-index --dest "$(mktemp -d)" \
            "torch==$torch_version" >/dev/null 2>&1; then
        # this machine's pip configuration carries a local CPU build (find-links)
        echo "==> installing the local CPU build of torch $torch_version"
        "${pip[@]}" "torch==$torch_version"
    else
        echo "==> installing the CPU build of torch $torch_version"
        "${pip[@]}" "torch==$torch_version" --index-url https://download.pytorch.org/whl/cpu
    fi
fi

torch_before=$("$py" -c "import torch; print(torch.__version__)")
echo "==> installing hypersphere-sklearn[$extras]"
if ! log=$("${pip[@]}" -e ".[$extras]" 2>&1); then
    echo "$log" >&2
    exit 1
fi
echo "$log" | grep -v "is ignored: it is neither a file nor a directory" || true
torch_after=$("$py" -c "import torch; print(torch.__version__)")
if [ "$torch_before" != "$torch_after" ]; then
    echo "installing the package replaced torch $torch_before by $torch_after" >&2
    exit 1
fi
"$py" -c "import hypersphere_sklearn; print('hypersphere_sklearn', hypersphere_sklearn.__version__, '| torch $torch_after kept')"
