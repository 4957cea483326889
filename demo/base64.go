package demo

import (
	"encoding/base64"
	"io"
	"strings"
)

// base64Reader decodes a base64 MIME body, which is split into lines.
func base64Reader(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
}

type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		s := strings.NewReplacer("\r", "", "\n", "").Replace(string(p[:k]))
		copy(p, s)
		if len(s) > 0 || err != nil {
			return len(s), err
		}
	}
}
