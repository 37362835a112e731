// Package spangate holds the domain vocabulary shared by every part of the
// gateway: the error model, principals, actions and policy decisions.
//
// It depends on nothing outside the standard library. Adapters (Spanner, HTTP,
// OIDC, the command line) speak these types and never import each other.
package spangate
