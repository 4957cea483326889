package service

import (
	"errors"
	"io"
	"os"
)

// LocalHost returns this machine's service manager: systemd.
func LocalHost(out io.Writer) (Host, error) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil, errors.New("this machine does not run systemd (no /run/systemd/system): run `qs-promoter serve` under your own supervisor; deploy/qs-promoter.service shows the settings it needs")
	}
	return newSystemdHost(out), nil
}

// IsWindowsService is false: this is not Windows.
func IsWindowsService() (bool, error) { return false, nil }

// RunWindowsService is only for Windows.
func RunWindowsService(serve ServeFunc) error {
	return errors.New("not a Windows service")
}
