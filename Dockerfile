# RustSEG web app, CPU only. Build: docker build -t rustseg .   Run: see README ("Docker").
# Checked end to end (build, /healthz, API upload, kept record on the volume across a restart,
# unprivileged user) by scripts/docker_check.sh.
# Python 3.11: pydensecrf does not build on 3.13, and TensorFlow 2.21 supports 3.11/3.12.
#
# Layer order: every layer above a 2 GB one costs a full copy of it with Docker's vfs storage
# driver (and time with any driver), so the big layers (the dependencies, the venv) come last
# in their stage and the project's own code is built into a wheel in a small stage of its own.

# --- the project as a wheel (a small stage: a code edit rebuilds it, two layers of the next
#     stage and the runtime's last layer: ~5 min with vfs instead of 15+) ---------------------
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rustseg_core ./rustseg_core
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY models ./models
# A regular (non-editable) wheel: pyproject.toml puts templates/, static/ and models/default
# inside the packages and declares the `rustseg` command.
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# --- dependencies + the project in a venv ----------------------------------------------------
FROM python:3.11-slim-bookworm AS build
# pydensecrf2 is an sdist: it needs a C/C++ compiler, which the runtime image does not keep.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# First the pinned third-party dependencies (the "-e ." line is for checkouts): this slow
# layer depends on requirements.txt only, so code edits do not reinstall TensorFlow.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip setuptools wheel \
 && grep -v '^-e ' /tmp/requirements.txt > /tmp/requirements-image.txt \
 && pip install -r /tmp/requirements-image.txt
# Then the project. --no-deps: everything it needs is pinned above, and `pip check` fails the
# build if pyproject.toml wants something requirements.txt lacks. The last line makes sure the
# installed package (not a checkout) has the shipped model, the templates and static files.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/rustseg-*.whl \
 && pip check \
 && cd / && python -c "from rustseg_core.pipeline.model_files import shipped_model_dir, is_model_dir; \
from app import _web_files; import os; d = shipped_model_dir(); \
assert is_model_dir(d) and str(d).startswith('/opt/venv/'), d; \
assert os.path.isfile(os.path.join(_web_files('templates'), 'index.html')); \
assert os.path.isfile(os.path.join(_web_files('static'), 'css', 'site.css'))"

# --- runtime ----------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# libgomp: OpenMP runtime for scikit-learn's K-means (OpenCV is the headless wheel: no libGL).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 rustseg \
 && mkdir -p /data/store && chown rustseg /data/store
WORKDIR /srv/rustseg
# Only the server's two entry files live here (the code, templates, static files and the
# shipped model are in the installed package in /opt/venv); COPY makes them owned by root,
# read-only for the app user, whatever USER says. Only /data/store is writable.
COPY wsgi.py gunicorn.conf.py ./
# No RUSTSEG_MODEL: the shipped model is found inside the installed package. Set it (and
# mount a folder) to serve another model.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RUSTSEG_PRODUCTION=1 \
    RUSTSEG_STORE_DIR=/data/store \
    TF_CPP_MIN_LOG_LEVEL=2 \
    CUDA_VISIBLE_DEVICES=""
# Kept photos live on a volume, never in the image.
VOLUME ["/data/store"]
EXPOSE 8000
# Asks the port gunicorn listens on: 8000, or the one in RUSTSEG_BIND (e.g. with --network host).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD python -c "import os,sys,urllib.request; h,_,p = os.environ.get('RUSTSEG_BIND','').rpartition(':'); h = h.strip('[]'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; h = '[%s]' % h if ':' in h else h; p = p if p.isdigit() else '8000'; sys.exit(0 if urllib.request.urlopen('http://%s:%s/healthz' % (h, p), timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
USER rustseg
# Last, so that the 2 GB venv is the only big layer of this stage (owned by root).
COPY --from=build /opt/venv /opt/venv
