package service

import "testing"

func TestWindowsAccount(t *testing.T) {
	for _, c := range []struct {
		user, account  string
		password, warn bool
	}{
		{"", "LocalSystem", false, true},
		{"localsystem", "LocalSystem", false, true},
		{`NT AUTHORITY\SYSTEM`, "LocalSystem", false, true},
		{"LocalService", `NT AUTHORITY\LocalService`, false, false},
		{`nt authority\networkservice`, `NT AUTHORITY\NetworkService`, false, false},
		{`NT SERVICE\qs-promoter`, `NT SERVICE\qs-promoter`, false, false},
		{`CORP\svc-qsp$`, `CORP\svc-qsp$`, false, false},
		{"svc-qsp", `.\svc-qsp`, true, false},
		{`CORP\svc-qsp`, `CORP\svc-qsp`, true, false},
		{"svc-qsp@corp.example", "svc-qsp@corp.example", true, false},
	} {
		account, password, warning := windowsAccount(c.user)
		if account != c.account || password != c.password || (warning != "") != c.warn {
			t.Errorf("%q: %q password=%v warning=%q; want %q password=%v warning=%v", c.user, account, password, warning, c.account, c.password, c.warn)
		}
	}
}
