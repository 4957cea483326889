//go:build !linux

package service

import "log/slog"

// SystemdFromEnv returns nil: systemd runs only on Linux.
func SystemdFromEnv(log *slog.Logger) (Reporter, error) { return nil, nil }
