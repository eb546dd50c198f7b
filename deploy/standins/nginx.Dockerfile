# A local stand-in for the official nginx:1.27-bookworm image (see postgres.Dockerfile for
# why): nginx from Debian, configuration in /etc/nginx/conf.d/*.conf, logs on stdout/stderr.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
