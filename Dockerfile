# syntax=docker/dockerfile:1

# ---- build: a static binary (the SQLite driver is pure Go, so no cgo)
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/techradar ./cmd/techradar \
 && mkdir -p /out/data

# ---- runtime: no shell, no package manager, a non-root user (65532)
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/techradar /usr/local/bin/techradar
# A directory the non-root user may write, for the embedded mode's SQLite file;
# mount a volume here to keep it.
COPY --from=build --chown=65532:65532 /out/data /data
ENV SQLITE_PATH=/data/techradar.db
WORKDIR /data
USER nonroot:nonroot
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/techradar"]
# serve runs the API and the workers in one process; `api` or `worker` runs one role.
CMD ["serve"]
