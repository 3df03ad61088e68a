# Builds both flowrun binaries; the compose file picks one per service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/persister ./cmd/persister

FROM debian:bookworm-slim
# python3 runs Python code nodes in a pool of worker processes.
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 flowrun \
 && mkdir -p /var/lib/flowrun/spool && chown flowrun /var/lib/flowrun/spool
COPY --from=build /out/api /out/persister /usr/local/bin/
COPY examples /srv/flowrun/examples
WORKDIR /srv/flowrun
USER flowrun
EXPOSE 5001
ENTRYPOINT ["/usr/local/bin/api"]
