output "service_account" {
  description = "Pass to spangate wif config --service-account."
  value       = google_service_account.migrator.email
}

output "pool_providers" {
  description = "Pass one to spangate wif config --pool-provider."
  value = {
    for p in concat(google_iam_workload_identity_pool_provider.bitbucket, google_iam_workload_identity_pool_provider.github, google_iam_workload_identity_pool_provider.gitlab) :
    p.workload_identity_pool_provider_id => "//iam.googleapis.com/${p.name}"
  }
}
