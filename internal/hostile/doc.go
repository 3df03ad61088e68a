// Package hostile holds the hostile-workload suite: its tests start the
// api binary, load attack apps beside a canary app, attack through the
// service API while the canary keeps running, and assert that each attack
// ends with its precise error, that the canary answers every call
// correctly, and that the service stays up and within its memory ceiling.
// The suite runs with the api as root and, when the tests run as root, as
// an unprivileged user too (the Dockerfile's way). See docs/security.md.
package hostile
