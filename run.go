package spangate

// RunMetadata is what a CI system reports about the run that makes a request:
// commit, build, repository and so on. It is read from the CI's environment
// and recorded as reported; it is never used for authorization, which relies
// only on verified token claims.
type RunMetadata struct {
	// CI names the CI system: "bitbucket", "github", "gitlab" or "" when
	// none was detected.
	CI string `json:"ci,omitempty"`
	// Commit is the commit SHA the run builds.
	Commit string `json:"commit,omitempty"`
	// Build is the CI's build or run number.
	Build string `json:"build,omitempty"`
	// Pipeline identifies the pipeline or workflow run.
	Pipeline string `json:"pipeline,omitempty"`
	// Repository is the repository's full name.
	Repository string `json:"repository,omitempty"`
	// Branch is the branch or ref being built.
	Branch string `json:"branch,omitempty"`
	// Environment is the deployment environment, if any.
	Environment string `json:"environment,omitempty"`
	// PullRequest is the pull or merge request number, if any.
	PullRequest string `json:"pull_request,omitempty"`
	// Actor is the user the CI reports as having started the run.
	Actor string `json:"actor,omitempty"`
}

// PipelineRef returns the pipeline and build as one string, such as
// "{pipeline-uuid}#42": what the audit trail and the migration history
// record as the run's pipeline.
func (m RunMetadata) PipelineRef() string {
	switch {
	case m.Pipeline != "" && m.Build != "":
		return m.Pipeline + "#" + m.Build
	case m.Pipeline != "":
		return m.Pipeline
	}
	return m.Build
}
