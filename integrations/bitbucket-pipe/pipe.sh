#!/bin/sh
# Entry script of the spangate Bitbucket Pipe (pipe.yml beside it): runs one
# spangate migrate command against the gateway as the step's own OIDC
# identity (the step needs oidc: true). Plans publish a Code Insights report
# on the commit through the pipeline's proxy. POSIX sh: it runs in the
# release image's busybox shell.
set -eu

fail() {
	printf 'spangate pipe: %s\n' "$*" >&2
	exit 2
}

COMMAND="${COMMAND:-plan}"
DIR="${DIR:-migrations}"
DATABASE="${DATABASE:-}"
GATEWAY_URL="${GATEWAY_URL:-}"
FAIL_ON_DRIFT="${FAIL_ON_DRIFT:-false}"
CODE_INSIGHTS="${CODE_INSIGHTS:-true}"
DEBUG="${DEBUG:-false}"

[ -n "$GATEWAY_URL" ] || fail "GATEWAY_URL is not set: give the spangate gateway's URL (also the audience in options: oidc: audiences)"
[ -n "$DATABASE" ] || fail "DATABASE is not set: give the database's logical name from the gateway's config"
[ -n "${BITBUCKET_STEP_OIDC_TOKEN:-}" ] || fail "the step has no OIDC token: add oidc: true to the step that runs the pipe"

export SPANGATE_URL="$GATEWAY_URL" SPANGATE_DATABASE="$DATABASE"
# A pipe reaches the pipeline's proxy on the docker host.
export SPANGATE_BITBUCKET_PROXY="${SPANGATE_BITBUCKET_PROXY:-http://host.docker.internal:29418}"

set -- migrate "$COMMAND" --dir "$DIR"
if [ "$DEBUG" = true ]; then
	set -- --log-level debug "$@"
fi
case "$COMMAND" in
plan)
	if [ "$FAIL_ON_DRIFT" = true ]; then set -- "$@" --fail-on-drift; fi
	set -- "$@" --format markdown --report-insights spangate-insights.json
	if [ "$CODE_INSIGHTS" = true ]; then set -- "$@" --publish-insights; fi
	status=0
	spangate "$@" >spangate-plan.md || status=$?
	cat spangate-plan.md
	exit "$status"
	;;
apply)
	if [ "$FAIL_ON_DRIFT" = true ]; then set -- "$@" --fail-on-drift; fi
	exec spangate "$@"
	;;
status)
	exec spangate "$@"
	;;
*)
	fail "COMMAND must be plan, apply or status, not $COMMAND"
	;;
esac
