package service

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Log file rotation: a Windows service has no console and no journal, so
// serve logs to a file that must not grow without end.
const (
	logFileMaxMB = 20
	logFileKeep  = 5
)

// OpenLogFile opens path for appending, rotating it at 20 MB and keeping
// the 5 newest rotated files beside it (name-<time>.log).
func OpenLogFile(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	// Open once now, so a folder the service account cannot write is an
	// error at start rather than silence.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	f.Close()
	return &lumberjack.Logger{Filename: path, MaxSize: logFileMaxMB, MaxBackups: logFileKeep}, nil
}
