# RustSEG web app, CPU only. Build: docker build -t rustseg .   Run: see README ("Docker").
# Python 3.11: pydensecrf does not build on 3.13, and TensorFlow 2.21 supports 3.11/3.12.
FROM python:3.11-slim-bookworm AS build

# pydensecrf2 is an sdist: it needs a C/C++ compiler, which the runtime image does not keep.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Only the third-party dependencies live in the venv (the "-e ." line is for local set-ups);
# the project's own code is copied in the runtime stage, so code changes rebuild in seconds.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip setuptools wheel \
 && grep -v '^-e ' /tmp/requirements.txt > /tmp/requirements-image.txt \
 && pip install -r /tmp/requirements-image.txt

FROM python:3.11-slim-bookworm
# libgomp: OpenMP runtime for scikit-learn's K-means (OpenCV is the headless wheel: no libGL).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 rustseg \
 && mkdir -p /data/store && chown rustseg /data/store
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/rustseg
# Code stays owned by root (read-only for the app user); only /data/store is writable.
COPY rustseg_core ./rustseg_core
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY models ./models
COPY wsgi.py gunicorn.conf.py ./
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv/rustseg \
    PYTHONUNBUFFERED=1 \
    RUSTSEG_PRODUCTION=1 \
    RUSTSEG_MODEL=/srv/rustseg/models/default \
    RUSTSEG_STORE_DIR=/data/store \
    TF_CPP_MIN_LOG_LEVEL=2 \
    CUDA_VISIBLE_DEVICES=""
USER rustseg
# Kept photos live on a volume, never in the image.
VOLUME ["/data/store"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
