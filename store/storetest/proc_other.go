//go:build !linux

package storetest

import "syscall"

// procAttr: only Linux tests run as root switch to the postgres account;
// elsewhere the server runs as the test's own user.
func procAttr(*account, bool) *syscall.SysProcAttr { return nil }
