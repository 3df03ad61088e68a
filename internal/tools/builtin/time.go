package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// newTime is Dify's hard-coded provider time
// (api/core/tools/builtin_tool/providers/time): every tool, with Dify's
// parameters, outputs and messages.
func newTime(o Options) *provider {
	p := &provider{}
	p.add(tools.Tool{
		Name: "current_time", Label: "Current Time", Description: "A tool for getting the current time.",
		Params: []tools.Param{
			{Name: "format", Type: tools.TypeString, Form: tools.FormForm, Default: "%Y-%m-%d %H:%M:%S", Description: "Time format in strftime standard."},
			{Name: "timezone", Type: tools.TypeSelect, Form: tools.FormForm, Default: "UTC", Description: "Timezone", Options: []string{
				"UTC", "America/New_York", "America/Los_Angeles", "America/Chicago", "America/Sao_Paulo", "Asia/Shanghai",
				"Asia/Ho_Chi_Minh", "Asia/Tokyo", "Asia/Dubai", "Asia/Kolkata", "Asia/Seoul", "Asia/Singapore", "Europe/London",
				"Europe/Berlin", "Europe/Moscow", "Australia/Sydney", "Pacific/Auckland", "Africa/Cairo"}},
		},
	}, o.currentTime)
	p.add(tools.Tool{
		Name: "timezone_conversion", Label: "convert time to equivalent time zone", Description: "A tool to convert time to equivalent time zone",
		Params: []tools.Param{
			{Name: "current_time", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "current time, such as 2024-1-1 0:0:0"},
			{Name: "current_timezone", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Default: "Asia/Shanghai", Description: "Current Timezone, such as Asia/Shanghai"},
			{Name: "target_timezone", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Default: "Asia/Tokyo", Description: "Target Timezone, such as Asia/Tokyo"},
		},
	}, timezoneConversion)
	p.add(tools.Tool{
		Name: "weekday", Label: "Weekday Calculator", Description: "A tool for calculating the weekday of a given date by year, month and day.",
		Params: []tools.Param{
			{Name: "year", Type: tools.TypeNumber, Required: true, Form: tools.FormLLM, Description: "Year"},
			{Name: "month", Type: tools.TypeNumber, Required: true, Form: tools.FormLLM, Description: "Month"},
			{Name: "day", Type: tools.TypeNumber, Required: true, Form: tools.FormLLM, Description: "day"},
		},
	}, weekday)
	p.add(tools.Tool{
		Name: "localtime_to_timestamp", Label: "localtime to timestamp", Description: "A tool for localtime convert to timestamp",
		Params: []tools.Param{
			{Name: "localtime", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "localtime, such as 2024-1-1 0:0:0"},
			{Name: "timezone", Type: tools.TypeString, Form: tools.FormLLM, Default: "Asia/Shanghai", Description: "Timezone, such as Asia/Shanghai"},
		},
	}, o.localtimeToTimestamp)
	p.add(tools.Tool{
		Name: "timestamp_to_localtime", Label: "Timestamp to localtime", Description: "A tool for timestamp convert to localtime",
		Params: []tools.Param{
			{Name: "timestamp", Type: tools.TypeNumber, Required: true, Form: tools.FormLLM, Description: "Timestamp"},
			{Name: "timezone", Type: tools.TypeString, Form: tools.FormLLM, Default: "Asia/Shanghai", Description: "Timezone, such as Asia/Shanghai"},
		},
	}, o.timestampToLocaltime)
	return p
}

// currentTime: now in a zone, formatted; an unknown zone is reported as
// text.
func (o Options) currentTime(_ context.Context, call *tools.Call, emit tools.Emit) error {
	tz := py.Str(arg(call, "timezone", "UTC"))
	format := arg(call, "format", nil)
	if !py.Truthy(format) {
		format = "%Y-%m-%d %H:%M:%S %Z"
	}
	now := o.Now()
	if tz == "UTC" {
		return text(emit, strftime(now.In(time.UTC), -1, py.Str(format), o.Local))
	}
	z, err := loadZone(tz)
	if err != nil {
		return text(emit, "Invalid timezone: "+tz)
	}
	wall, dst := z.fromUTC(now)
	return text(emit, strftime(wall, dst, py.Str(format), o.Local))
}

// timezoneConversion reads a wall time in one zone and writes it in
// another; bad input fails the tool (ToolInvokeError).
func timezoneConversion(_ context.Context, call *tools.Call, emit tools.Emit) error {
	in, err := loadZone(py.Str(arg(call, "current_timezone", "Asia/Shanghai")))
	if err != nil {
		return tools.InvokeErrorf("%s", err)
	}
	out, err := loadZone(py.Str(arg(call, "target_timezone", "Asia/Tokyo")))
	if err != nil {
		return tools.InvokeErrorf("%s", err)
	}
	naive, err := strptimeArg(arg(call, "current_time", nil))
	if err != nil {
		return tools.InvokeErrorf("%s", err)
	}
	wall, _ := out.fromUTC(in.localize(naive))
	return formatted(emit, wall)
}

// strptimeArg parses a wall time argument (which must be a string).
func strptimeArg(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("strptime() argument 1 must be str, not %s", pyjson.TypeName(v))
	}
	return parseDateTime(s)
}

// localtimeToTimestamp reads a wall time in a zone (the server's when the
// zone is empty) and writes its Unix time. As in Dify, the epoch itself
// (0) is reported as invalid.
func (o Options) localtimeToTimestamp(_ context.Context, call *tools.Call, emit tools.Emit) error {
	localtime := arg(call, "localtime", nil)
	tz := arg(call, "timezone", "Asia/Shanghai")
	naive, err := strptimeArg(localtime)
	if err != nil {
		return tools.InvokeErrorf("%s", err)
	}
	var at time.Time
	if !py.Truthy(tz) {
		at = time.Date(naive.Year(), naive.Month(), naive.Day(), naive.Hour(), naive.Minute(), naive.Second(), 0, o.Local)
	} else {
		z, err := loadZone(py.Str(tz))
		if err != nil {
			return tools.InvokeErrorf("%s", err)
		}
		at = z.localize(naive)
	}
	if at.Unix() == 0 {
		return text(emit, "Invalid localtime: "+py.Str(localtime))
	}
	return text(emit, strconv.FormatInt(at.Unix(), 10))
}

// timestampToLocaltime writes a Unix time as a wall time in a zone (with
// an empty zone, the server's current UTC offset, as Dify does).
func (o Options) timestampToLocaltime(_ context.Context, call *tools.Call, emit tools.Emit) error {
	tz := arg(call, "timezone", "Asia/Shanghai")
	var wall func(time.Time) time.Time
	if !py.Truthy(tz) {
		name, off := o.Now().In(o.Local).Zone()
		fixed := time.FixedZone(name, off)
		wall = func(t time.Time) time.Time { return t.In(fixed) }
	} else {
		z, err := loadZone(py.Str(tz))
		if err != nil {
			return tools.InvokeErrorf("%s", err)
		}
		wall = func(t time.Time) time.Time { w, _ := z.fromUTC(t); return w }
	}
	t, err := fromTimestamp(arg(call, "timestamp", int64(0)))
	if err != nil {
		return tools.InvokeErrorf("%s", err)
	}
	return formatted(emit, wall(t))
}

// formatted writes a wall time as "%Y-%m-%d %H:%M:%S", failing as Python
// does when its year leaves 1..9999.
func formatted(emit tools.Emit, wall time.Time) error {
	if wall.Year() > 9999 || wall.Year() < 1 {
		return tools.InvokeErrorf("date value out of range")
	}
	return text(emit, strftime(wall, -1, dateTimeFormat, time.UTC))
}

// fromTimestamp is the instant datetime.fromtimestamp reads from a
// number of seconds, rounded to the microsecond, with Python's errors.
func fromTimestamp(v any) (time.Time, error) {
	var f float64
	switch x := v.(type) {
	case int64:
		return checkYear(time.Unix(x, 0).UTC())
	case bool:
		if x {
			return time.Unix(1, 0).UTC(), nil
		}
		return time.Unix(0, 0).UTC(), nil
	case float64:
		f = x
	case json.Number:
		return time.Time{}, fmt.Errorf("timestamp out of range for platform time_t")
	default:
		return time.Time{}, fmt.Errorf("'%s' object cannot be interpreted as an integer", pyjson.TypeName(v))
	}
	switch {
	case math.IsNaN(f):
		return time.Time{}, fmt.Errorf("Invalid value NaN (not a number)") //nolint:staticcheck // Python's text
	case math.IsInf(f, 0) || math.Abs(f) >= 1<<63:
		return time.Time{}, fmt.Errorf("timestamp out of range for platform time_t")
	}
	sec, frac := math.Modf(f)
	us := math.RoundToEven(frac * 1e6)
	return checkYear(time.Unix(int64(sec), int64(us)*1000).UTC())
}

func checkYear(t time.Time) (time.Time, error) {
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("year %d is out of range", y)
	}
	return t, nil
}

// weekday names the weekday of a date, or says the date is invalid.
func weekday(_ context.Context, call *tools.Call, emit tools.Emit) error {
	year, month, day := arg(call, "year", nil), arg(call, "month", nil), arg(call, "day", nil)
	if month == nil {
		return fmt.Errorf("Month is required") //nolint:staticcheck // Dify's text
	}
	invalid := func() error {
		return text(emit, fmt.Sprintf("Invalid date: Year %s, Month %s, Day %s.", py.Str(year), py.Str(month), py.Str(day)))
	}
	y, okY := pyNumber(year)
	m, okM := pyNumber(month)
	d, okD := pyNumber(day)
	for _, c := range []struct {
		v  any
		ok bool
	}{{year, okY}, {month, okM}, {day, okD}} {
		if !c.ok {
			return fmt.Errorf("'>=' not supported between instances of '%s' and 'int'", pyjson.TypeName(c.v))
		}
	}
	if !(y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
		return invalid()
	}
	date, err := civil(int(y), int(m), int(d), 0, 0, 0)
	if err != nil {
		return invalid()
	}
	if _, isFloat := month.(float64); isFloat {
		return fmt.Errorf("list indices must be integers or slices, not float")
	}
	return text(emit, fmt.Sprintf("%s %d, %d is %s.", date.Month(), date.Day(), date.Year(), date.Weekday()))
}

// pyNumber reads a Python number (bool included). Unlike py.Number it
// takes bools, which the weekday tool's range checks compare as Python
// does (True >= 1), and pyjson's json.Number integers.
func pyNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil || !math.IsNaN(f)
	}
	return 0, false
}
