# The router image: built on Debian 12 with the same packages as the README
# install (deploy/scripts/install-deps.sh), packaged as the project's .deb,
# and installed into Debian 12 slim, which pulls exactly the shared
# libraries the binaries link (libevent, nghttp2, OpenSSL, protobuf-c,
# jansson, cJSON). Runs as a non-root user.
#
#   docker build -f deploy/docker/router.Dockerfile -t sglang-router .
#
# The image holds sglang-router, sglang-launch-server, sglctl and
# sglang-worker-sim; the entrypoint is the router.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends sudo dpkg-dev file \
    && deploy/scripts/install-deps.sh \
    && deploy/scripts/package.sh

FROM debian:12-slim
COPY --from=build /src/dist/ /tmp/dist/
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends /tmp/dist/sglang-router_*.deb \
    && rm -rf /tmp/dist /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin sglang
USER 10001:10001
EXPOSE 30000 30001 29000
ENTRYPOINT ["/usr/bin/sglang-router"]
CMD ["--host", "0.0.0.0", "--port", "30000"]
