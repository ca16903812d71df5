#!/usr/bin/env bash
# Copy the pure-Python packages benchmarks/gpu.sh needs beyond the device machine's image into .gpu/site
# (ignored by git; carried with the call). Run here, after `make setup` and `make bench`.
set -eu
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
peer=$(.venv-bench/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .gpu/site && mkdir -p .gpu/site
for pkg in neuralop tensorly tltorch opt_einsum configmypy h5netcdf; do
    cp -r "$site/$pkg" .gpu/site/
done
cp -r "$peer/exponax" "$peer"/exponax-*.dist-info .gpu/site/  # exponax reads its version from its metadata
find .gpu/site -name "__pycache__" -prune -exec rm -rf {} + -o -name tests -prune -exec rm -rf {} +
du -sh .gpu/site
