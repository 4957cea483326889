// Package service runs `qs-promoter serve` under the operating system's
// service manager (the Windows service control manager, systemd) and
// installs it there.
//
// It wraps serve, it does not fork it: Control.Run drives one serve
// function the same way for the Windows SCM, systemd and a terminal. The
// manager's requests come in as Requests (or the context ending), the
// daemon's state goes out to a Reporter. Only the translation to each
// manager's own API is platform code (windows.go, sdnotify_linux.go).
package service
