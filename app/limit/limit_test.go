package limit_test

import (
	"testing"
	"time"

	"github.com/techradar/techradar/app/limit"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]limit.Rate{
		"100/1s":    {Count: 100, Period: time.Second},
		"10/1h":     {Count: 10, Period: time.Hour},
		" 5 / 30m ": {Count: 5, Period: 30 * time.Minute},
		"60/m":      {Count: 60, Period: time.Minute},
		"1/1500ms":  {Count: 1, Period: 1500 * time.Millisecond},
		"1000/1ms":  {Count: 1000, Period: time.Millisecond},
	} {
		got, err := limit.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "100", "0/1s", "-1/1s", "x/1s", "10/", "10/0s", "10/-1s", "10/soon", "1.5/1s",
		"2000000/1ms", "1001/1ms", "1/1ns"} {
		if got, err := limit.ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", bad, got)
		}
	}
}
