# Workload Identity Federation for spangate's direct mode: a pool, one OIDC
# provider per CI system, a service account the pipelines impersonate, and
# its Spanner role on one database. The mappings and conditions are the ones
# `spangate wif config` prints; it then writes the pipeline's credential
# configuration for the provider made here. Teams that use the gateway do
# not need any of this: the gateway's own service account reaches Spanner.
#
#   terraform init && terraform apply -var-file=acme.tfvars
#
# Set only the CI systems you use: a provider is made for each non-empty
# variable group below.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}

provider "google" {
  project = var.project_id
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_iam_workload_identity_pool" "ci" {
  workload_identity_pool_id = var.pool_id
  display_name              = "CI pipelines (spangate)"
  description               = "OIDC tokens of CI pipelines that run spangate in direct mode"
}

# Bitbucket Pipelines: the workspace's issuer; the condition keys on the
# repository and the deployment environment, which a push cannot choose.
resource "google_iam_workload_identity_pool_provider" "bitbucket" {
  count                              = var.bitbucket_workspace == "" ? 0 : 1
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "bitbucket"
  display_name                       = "Bitbucket Pipelines"
  attribute_mapping = {
    "google.subject"                      = "assertion.sub"
    "attribute.workspaceuuid"             = "assertion.workspaceUuid"
    "attribute.repositoryuuid"            = "assertion.repositoryUuid"
    "attribute.deploymentenvironmentuuid" = "assertion.deploymentEnvironmentUuid"
  }
  attribute_condition = "attribute.repositoryuuid == '${var.bitbucket_repository_uuid}' && attribute.deploymentenvironmentuuid == '${var.bitbucket_environment_uuid}'"
  oidc {
    issuer_uri        = "https://api.bitbucket.org/2.0/workspaces/${var.bitbucket_workspace}/pipelines-config/identity/oidc"
    allowed_audiences = ["ari:cloud:bitbucket::workspace/${trim(var.bitbucket_workspace_uuid, "{}")}"]
  }
}

# GitHub Actions: the repository's numeric id and a protected environment.
resource "google_iam_workload_identity_pool_provider" "github" {
  count                              = var.github_repository_id == "" ? 0 : 1
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions"
  attribute_mapping = {
    "google.subject"                = "assertion.sub"
    "attribute.repository_id"       = "assertion.repository_id"
    "attribute.repository_owner_id" = "assertion.repository_owner_id"
    "attribute.environment"         = "assertion.environment"
  }
  attribute_condition = "assertion.repository_id == '${var.github_repository_id}' && assertion.environment == '${var.github_environment}'"
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

# GitLab CI: the project's id, a protected ref and a protected environment.
resource "google_iam_workload_identity_pool_provider" "gitlab" {
  count                              = var.gitlab_project_id == "" ? 0 : 1
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "gitlab"
  display_name                       = "GitLab CI"
  attribute_mapping = {
    "google.subject"                  = "assertion.sub"
    "attribute.project_id"            = "assertion.project_id"
    "attribute.ref_protected"         = "assertion.ref_protected"
    "attribute.environment"           = "assertion.environment"
    "attribute.environment_protected" = "assertion.environment_protected"
  }
  attribute_condition = "attribute.project_id == '${var.gitlab_project_id}' && attribute.ref_protected == 'true' && attribute.environment == '${var.gitlab_environment}' && attribute.environment_protected == 'true'"
  oidc {
    issuer_uri = var.gitlab_url
  }
}

# The identity the pipelines act as: it may use the one database, nothing
# else.
resource "google_service_account" "migrator" {
  account_id   = var.service_account_id
  display_name = "spangate migrations (direct mode)"
}

resource "google_spanner_database_iam_member" "migrator" {
  instance = var.spanner_instance
  database = var.spanner_database
  role     = "roles/spanner.databaseUser"
  member   = "serviceAccount:${google_service_account.migrator.email}"
}

locals {
  pool = "principalSet://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools/${google_iam_workload_identity_pool.ci.workload_identity_pool_id}"
  # Who may impersonate the service account: exactly the identities the
  # providers' conditions let in, narrowed once more by attribute.
  members = concat(
    var.bitbucket_workspace == "" ? [] : ["${local.pool}/attribute.deploymentenvironmentuuid/${var.bitbucket_environment_uuid}"],
    var.github_repository_id == "" ? [] : ["${local.pool}/attribute.repository_id/${var.github_repository_id}"],
    var.gitlab_project_id == "" ? [] : ["${local.pool}/attribute.project_id/${var.gitlab_project_id}"],
  )
}

resource "google_service_account_iam_member" "workload_identity_user" {
  for_each           = toset(local.members)
  service_account_id = google_service_account.migrator.name
  role               = "roles/iam.workloadIdentityUser"
  member             = each.value
}
