# One image for every BranchCare service; pick the service with the command, e.g.
#   docker run branchcare python -m services.hq
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs: the image does not depend on the rest of the checkout.
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install . \
    && useradd --system --no-create-home --uid 10001 branchcare

USER branchcare
EXPOSE 8001 8002 8003 8004 8005
CMD ["python", "-m", "services.complaint"]
