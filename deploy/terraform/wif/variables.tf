variable "project_id" {
  description = "The Google Cloud project of the pool, the service account and the Spanner instance."
  type        = string
}

variable "pool_id" {
  description = "The workload identity pool's id."
  type        = string
  default     = "ci"
}

variable "service_account_id" {
  description = "The account id of the service account the pipelines impersonate."
  type        = string
  default     = "spangate-migrator"
}

variable "spanner_instance" {
  description = "The Spanner instance of the database."
  type        = string
}

variable "spanner_database" {
  description = "The database the pipelines migrate."
  type        = string
}

variable "bitbucket_workspace" {
  description = "Bitbucket workspace slug (empty: no Bitbucket provider)."
  type        = string
  default     = ""
}

variable "bitbucket_workspace_uuid" {
  description = "Bitbucket workspace UUID with braces, for the default audience."
  type        = string
  default     = ""
}

variable "bitbucket_repository_uuid" {
  description = "Bitbucket repository UUID with braces (Repository settings, OpenID Connect)."
  type        = string
  default     = ""
}

variable "bitbucket_environment_uuid" {
  description = "Bitbucket deployment environment UUID with braces."
  type        = string
  default     = ""
}

variable "github_repository_id" {
  description = "GitHub repository id, a number (empty: no GitHub provider)."
  type        = string
  default     = ""
}

variable "github_environment" {
  description = "GitHub environment of the jobs that migrate (give it protection rules)."
  type        = string
  default     = "production"
}

variable "gitlab_project_id" {
  description = "GitLab project id, a number (empty: no GitLab provider)."
  type        = string
  default     = ""
}

variable "gitlab_environment" {
  description = "GitLab environment of the jobs that migrate (protect it)."
  type        = string
  default     = "production"
}

variable "gitlab_url" {
  description = "GitLab's URL, the issuer of its ID tokens."
  type        = string
  default     = "https://gitlab.com"
}
