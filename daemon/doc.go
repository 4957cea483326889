// Package daemon is `qs-promoter serve`: it subscribes to the watched QRS
// sites, receives their change notifications, records them durably, coalesces
// them per app, evaluates the policies and runs their steps with per-step
// checkpoints, catches up on what it missed, and tells the admin what it did
// (audit log, metrics, status).
package daemon
