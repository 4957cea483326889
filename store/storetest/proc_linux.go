package storetest

import "syscall"

// procAttr runs a PostgreSQL program as the account; withParent ties the
// server's life to the test binary's (a killed test run takes it along).
func procAttr(as *account, withParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if as != nil {
		a.Credential = &syscall.Credential{Uid: uint32(as.uid), Gid: uint32(as.gid)}
	}
	if withParent {
		a.Pdeathsig = syscall.SIGQUIT
	}
	return a
}
