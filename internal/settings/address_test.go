package settings_test

import (
	"strings"
	"testing"

	"github.com/techradar/techradar/internal/settings"
)

func TestHostPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string // "" when the address is good, else what the message says
	}{
		{":8080", ""},
		{":0", ""},
		{":65535", ""},
		{"127.0.0.1:8080", ""},
		{"localhost:8080", ""},
		{"api.internal.example.com:443", ""},
		{"[::1]:8080", ""},
		{"[::]:8080", ""},
		{"[fe80::1%eth0]:8080", ""},
		{"my_host:80", ""},
		{"8080", "missing port"},
		{"", "missing port"},
		{":99999", `port "99999" is not a number from 0 to 65535`},
		{":65536", `port "65536" is not a number from 0 to 65535`},
		{":-1", `port "-1" is not a number`},
		{":http", `port "http" is not a number`},
		{":", "port is missing"},
		{"localhost:", "port is missing"},
		{"bad host:8080", `host "bad host" is neither`},
		{"-lead.example.com:80", "is neither"},
		{"a..b:80", "is neither"},
		{"::1:8080", "too many colons"},
		{"host/x:80", "is neither"},
	}
	for _, tt := range tests {
		var p settings.Problems
		p.HostPort("HTTP_ADDR", tt.addr)
		err := p.Err()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.addr, err)
		case tt.want != "" && err == nil:
			t.Errorf("%q was accepted", tt.addr)
		case tt.want != "" && !strings.HasPrefix(err.Error(), "HTTP_ADDR: ") || tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%q: error %q, want it to name HTTP_ADDR and say %q", tt.addr, err, tt.want)
		}
	}
}
