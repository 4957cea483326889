package console

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// consoleMetrics count logins and refusals, on the daemon's registry.
type consoleMetrics struct {
	logins  *prometheus.CounterVec // result
	refused *prometheus.CounterVec // reason
}

func newConsoleMetrics(reg prometheus.Registerer) (*consoleMetrics, error) {
	m := &consoleMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_console_logins_total",
			Help: "Console logins by result (success, failure: a wrong user name or password)."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_console_refused_total",
			Help: "Console requests refused, by reason (no_session, cross_origin, viewer, bad_token)."}, []string{"reason"}),
	}
	var err error
	if m.logins, err = register(reg, m.logins); err != nil {
		return nil, err
	}
	if m.refused, err = register(reg, m.refused); err != nil {
		return nil, err
	}
	// Zero series exist from the start, so that an alert on a rate sees them.
	m.logins.WithLabelValues("failure")
	m.logins.WithLabelValues("success")
	return m, nil
}

// register registers c, or returns the one already registered (a second
// console on the same daemon's registry: tests).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return old, nil
			}
		}
		return nil, err
	}
	return c, nil
}
