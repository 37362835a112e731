package citoken

import (
	"strings"

	"github.com/spangate/spangate"
)

// Metadata reads what the CI system reports about the current run from its
// environment: GitHub Actions (GITHUB_ACTIONS=true), GitLab CI
// (GITLAB_CI=true) or Bitbucket Pipelines (BITBUCKET_BUILD_NUMBER set),
// tried in that order. Outside CI it returns the zero RunMetadata.
//
// The values are as reported: a job can override these variables, so they
// are recorded next to the verified claims and never used to authorize.
func Metadata(lookupEnv func(string) (string, bool)) spangate.RunMetadata {
	env := func(key string) string {
		v, _ := lookupEnv(key)
		return strings.TrimSpace(v)
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := env(k); v != "" {
				return v
			}
		}
		return ""
	}
	switch {
	case env("GITHUB_ACTIONS") == "true":
		m := spangate.RunMetadata{
			CI:         "github",
			Commit:     env("GITHUB_SHA"),
			Build:      env("GITHUB_RUN_NUMBER"),
			Pipeline:   env("GITHUB_RUN_ID"),
			Repository: env("GITHUB_REPOSITORY"),
			Branch:     first("GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
			Actor:      first("GITHUB_TRIGGERING_ACTOR", "GITHUB_ACTOR"),
		}
		// GITHUB_REF is refs/pull/<n>/merge for pull_request events.
		if rest, ok := strings.CutPrefix(env("GITHUB_REF"), "refs/pull/"); ok {
			m.PullRequest, _, _ = strings.Cut(rest, "/")
		}
		return m
	case env("GITLAB_CI") == "true":
		return spangate.RunMetadata{
			CI:          "gitlab",
			Commit:      env("CI_COMMIT_SHA"),
			Build:       env("CI_JOB_ID"),
			Pipeline:    env("CI_PIPELINE_ID"),
			Repository:  env("CI_PROJECT_PATH"),
			Branch:      first("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME"),
			Environment: env("CI_ENVIRONMENT_NAME"),
			PullRequest: env("CI_MERGE_REQUEST_IID"),
			Actor:       env("GITLAB_USER_LOGIN"),
		}
	case env("BITBUCKET_BUILD_NUMBER") != "":
		repo := env("BITBUCKET_REPO_FULL_NAME")
		if repo == "" && env("BITBUCKET_WORKSPACE") != "" && env("BITBUCKET_REPO_SLUG") != "" {
			repo = env("BITBUCKET_WORKSPACE") + "/" + env("BITBUCKET_REPO_SLUG")
		}
		return spangate.RunMetadata{
			CI:          "bitbucket",
			Commit:      env("BITBUCKET_COMMIT"),
			Build:       env("BITBUCKET_BUILD_NUMBER"),
			Pipeline:    env("BITBUCKET_PIPELINE_UUID"),
			Repository:  repo,
			Branch:      first("BITBUCKET_BRANCH", "BITBUCKET_TAG"),
			Environment: env("BITBUCKET_DEPLOYMENT_ENVIRONMENT"),
			PullRequest: env("BITBUCKET_PR_ID"),
			Actor:       env("BITBUCKET_STEP_TRIGGERER_UUID"),
		}
	}
	return spangate.RunMetadata{}
}
