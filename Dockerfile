# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with the toolchain, install it into a clean venv, ship the venv on a slim base.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/aiconform \
 && /opt/aiconform/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/aiconform/bin/pip wheel --no-cache-dir --wheel-dir /wheels . \
 && /opt/aiconform/bin/pip install --no-cache-dir /wheels/aiconform-*.whl

FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="aiconform" \
      org.opencontainers.image.description="Makes a Kubernetes cluster AI-conformant and proves it, continuously" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/aiconform/aiconform"
COPY --from=build /opt/aiconform /opt/aiconform
# A fixed numeric non-root user, so `runAsNonRoot` can verify it without a passwd lookup.
USER 65532:65532
ENV PATH=/opt/aiconform/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
# The root filesystem can be read-only: the only writable path needed is /tmp (an emptyDir in the chart).
EXPOSE 8080 9090
ENTRYPOINT ["aiconform"]
CMD ["run", "--liveness-port", "8080", "--metrics-port", "9090", "--log-format", "json"]
