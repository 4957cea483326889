package service

import "strings"

// localSystemWarning is printed when the service runs as LocalSystem.
const localSystemWarning = "warning: the service runs as LocalSystem, which may do anything on this machine. A dedicated account is safer: " +
	"--user DOMAIN\\svc-qs-promoter (a domain or local account), or a group managed service account DOMAIN\\svc-qsp$, " +
	"that can read the configuration, the certificates and the policies and write the state folder"

// windowsAccount turns --user into the account the service logs on as, and
// says whether Windows needs its password and what to warn about.
func windowsAccount(user string) (account string, needsPassword bool, warning string) {
	u := strings.TrimSpace(user)
	switch strings.ToLower(u) {
	case "", "localsystem", `.\localsystem`, `nt authority\system`:
		return "LocalSystem", false, localSystemWarning
	case "localservice", `nt authority\localservice`:
		return `NT AUTHORITY\LocalService`, false, ""
	case "networkservice", `nt authority\networkservice`:
		return `NT AUTHORITY\NetworkService`, false, ""
	}
	switch {
	case strings.HasPrefix(strings.ToLower(u), `nt service\`): // a virtual account
		return u, false, ""
	case strings.HasSuffix(u, "$"): // a (group) managed service account
		return u, false, ""
	case !strings.ContainsAny(u, `\@`): // a local account
		return `.\` + u, true, ""
	}
	return u, true, ""
}
