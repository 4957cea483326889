//go:build !linux && !windows

package service

import (
	"errors"
	"io"
	"runtime"
)

// LocalHost has no service manager to offer outside Linux and Windows.
func LocalHost(out io.Writer) (Host, error) {
	return nil, errors.New("service: " + runtime.GOOS + " is not supported (Windows and Linux with systemd are); run `qs-promoter serve` under your own supervisor")
}

// IsWindowsService is false: this is not Windows.
func IsWindowsService() (bool, error) { return false, nil }

// RunWindowsService is only for Windows.
func RunWindowsService(serve ServeFunc) error { return errors.New("not a Windows service") }
