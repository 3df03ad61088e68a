package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Errors the handlers return. Each maps to one row of the table in
// httpError; handlers never pick status codes themselves.
var (
	// ErrAuthMissing: no Authorization header, or one without a space.
	ErrAuthMissing = errors.New("Authorization header must be provided and start with 'Bearer'") //nolint:staticcheck // Dify's exact message
	// ErrAuthScheme: an Authorization scheme other than Bearer.
	ErrAuthScheme = errors.New("Authorization scheme must be 'Bearer'") //nolint:staticcheck // Dify's exact message
	// ErrAuthInvalid: a bearer token that selects no app.
	ErrAuthInvalid = errors.New("Access token is invalid") //nolint:staticcheck // Dify's exact message
	// ErrAdminDisabled: the admin API is off (ADMIN_API_KEY unset).
	ErrAdminDisabled = errors.New("the admin API is disabled")
	// ErrUserRequired: a run or stop request without "user".
	ErrUserRequired = errors.New("Arg user must be provided.") //nolint:staticcheck // Dify's exact message
	// ErrInvalidJSON: a body that is empty or not a JSON object.
	ErrInvalidJSON = errors.New("Invalid JSON payload received or JSON payload is empty.") //nolint:staticcheck // Dify's exact message
	// ErrBodyTooLarge: a body over the configured limit.
	ErrBodyTooLarge = errors.New("The data value transmitted exceeds the capacity limit.") //nolint:staticcheck // werkzeug's message
	// ErrRunNotFound: GET /workflows/run/{id} for a run this server does
	// not hold (Dify answers 200 with nulls; see the README).
	ErrRunNotFound = errors.New("Workflow run not found.") //nolint:staticcheck // message in Dify's style
	// ErrRouteNotFound: no route matches.
	ErrRouteNotFound = errors.New("The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.") //nolint:staticcheck // werkzeug's message
	// ErrMethodNotAllowed: the route exists for other methods.
	ErrMethodNotAllowed = errors.New("The method is not allowed for the requested URL.") //nolint:staticcheck // werkzeug's message
	// ErrPersistenceUnavailable: the execution records of a run could not
	// be written or read (sync mode promises they are committed).
	ErrPersistenceUnavailable = errors.New("Execution records could not be stored; the run's outcome is not durable. Try again later.") //nolint:staticcheck // message in Dify's style
	// ErrNotChatApp: a chat route with an app that is not a chatflow.
	ErrNotChatApp = errors.New("Please check if your app mode matches the right API route.") //nolint:staticcheck // Dify's exact message
	// ErrNotWorkflowApp: a workflow route with an app that is not a
	// workflow.
	ErrNotWorkflowApp = errors.New("Please check if your app mode matches the right API route.") //nolint:staticcheck // Dify's exact message
	// ErrShuttingDown: a new run while the server drains.
	ErrShuttingDown = errors.New("The server is shutting down; no new runs are accepted.") //nolint:staticcheck // message in Dify's style
)

// internalMessage is what clients see for any unexpected error (werkzeug's
// InternalServerError description); the cause is only logged.
const internalMessage = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."

// ParamError is a request field with a bad value: 400 invalid_param with
// Message, as Dify reports pydantic and ValueError failures.
type ParamError struct {
	Message string
}

// Error returns the message sent to the client.
func (e *ParamError) Error() string { return e.Message }

// payloadError builds the message pydantic gives for one bad field of
// WorkflowRunPayload (without pydantic's input_value and URL lines).
func payloadError(field, problem string) error {
	return &ParamError{Message: fmt.Sprintf("1 validation error for WorkflowRunPayload\n%s\n  %s", field, problem)}
}

// WorkflowIDFormatError is a workflow id in the path that is not a UUID.
type WorkflowIDFormatError struct{ ID string }

// Error returns Dify's message, trailing space included.
func (e *WorkflowIDFormatError) Error() string {
	return fmt.Sprintf("Invalid workflow_id format: '%s'. ", run.Clip(e.ID))
}

// WorkflowNotFoundError is a workflow id that is not the app's workflow.
type WorkflowNotFoundError struct{ ID string }

// Error returns Dify's message.
func (e *WorkflowNotFoundError) Error() string {
	return "Workflow not found with id: " + run.Clip(e.ID)
}

// NotFoundError is a chat resource that does not exist for this app and
// user: 404 not_found with Dify's message for it ("Conversation Not
// Exists.", …).
type NotFoundError struct{ Message string }

// Error returns the message sent to the client.
func (e *NotFoundError) Error() string { return e.Message }

// BadRequestError is a request Dify refuses with 400 bad_request.
type BadRequestError struct{ Message string }

// Error returns the message sent to the client.
func (e *BadRequestError) Error() string { return e.Message }

// TooManyRequestsError is the per-app concurrency limit
// (APP_MAX_ACTIVE_REQUESTS).
type TooManyRequestsError struct {
	AppID string
	Limit int
}

// Error returns Dify's message.
func (e *TooManyRequestsError) Error() string {
	return fmt.Sprintf("Too many requests. Please try again later. The current maximum concurrent requests allowed for %s is %d.", e.AppID, e.Limit)
}

// StopTimeoutError is a stop request whose run had not ended after the
// server's StopWait: a node of the run ignores cancellation.
type StopTimeoutError struct{ Wait time.Duration }

// Error returns the message sent to the client.
func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("The run was asked to stop but is still running after %s.", e.Wait)
}

// httpErr is a Dify error body: {"code", "message", "status"}.
type httpErr struct {
	Status  int
	Code    string
	Message string
}

// errorRow is one line of the table: when match holds, the response has
// status and code, and message(err) as message.
type errorRow struct {
	match  func(error) bool
	status int
	code   string
	// message defaults to err.Error().
	message func(error) string
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error]() func(error) bool {
	return func(err error) bool {
		var t T
		return errors.As(err, &t)
	}
}

func fixed(msg string) func(error) string { return func(error) string { return msg } }

// unwrapAs returns the message of the first T in err's chain (so wrapping
// context never leaks into the body).
func unwrapAs[T error]() func(error) string {
	return func(err error) string {
		var t T
		errors.As(err, &t)
		return t.Error()
	}
}

// errorTable is the one place where errors become HTTP responses (codes
// from Dify's api/controllers/service_api/app/error.py and werkzeug).
// Order matters: the first matching row wins.
var errorTable = []errorRow{
	{match: is(ErrAuthMissing), status: http.StatusUnauthorized, code: "unauthorized", message: fixed(ErrAuthMissing.Error())},
	{match: is(ErrAuthScheme), status: http.StatusUnauthorized, code: "unauthorized", message: fixed(ErrAuthScheme.Error())},
	{match: is(ErrAuthInvalid), status: http.StatusUnauthorized, code: "unauthorized", message: fixed(ErrAuthInvalid.Error())},
	{match: is(ErrAdminDisabled), status: http.StatusNotFound, code: "not_found", message: fixed(ErrRouteNotFound.Error())},
	{match: is(ErrUserRequired), status: http.StatusBadRequest, code: "invalid_param", message: fixed(ErrUserRequired.Error())},
	{match: is(ErrInvalidJSON), status: http.StatusBadRequest, code: "invalid_param", message: fixed(ErrInvalidJSON.Error())},
	{match: as[*ParamError](), status: http.StatusBadRequest, code: "invalid_param", message: unwrapAs[*ParamError]()},
	{match: as[*files.InputError](), status: http.StatusBadRequest, code: "invalid_param", message: unwrapAs[*files.InputError]()},
	{match: as[*run.InputError](), status: http.StatusBadRequest, code: "invalid_param", message: unwrapAs[*run.InputError]()},
	{match: as[*WorkflowIDFormatError](), status: http.StatusBadRequest, code: "bad_request", message: unwrapAs[*WorkflowIDFormatError]()},
	{match: as[*WorkflowNotFoundError](), status: http.StatusNotFound, code: "not_found", message: unwrapAs[*WorkflowNotFoundError]()},
	{match: as[*TooManyRequestsError](), status: http.StatusTooManyRequests, code: "too_many_requests", message: unwrapAs[*TooManyRequestsError]()},
	{match: as[*http.MaxBytesError](), status: http.StatusRequestEntityTooLarge, code: "request_entity_too_large", message: fixed(ErrBodyTooLarge.Error())},
	{match: is(ErrBodyTooLarge), status: http.StatusRequestEntityTooLarge, code: "request_entity_too_large", message: fixed(ErrBodyTooLarge.Error())},
	{match: is(ErrRunNotFound), status: http.StatusNotFound, code: "not_found", message: fixed(ErrRunNotFound.Error())},
	{match: is(ErrRouteNotFound), status: http.StatusNotFound, code: "not_found", message: fixed(ErrRouteNotFound.Error())},
	{match: is(ErrEndUserNotFound), status: http.StatusNotFound, code: "end_user_not_found", message: fixed(ErrEndUserNotFound.Error())},
	{match: is(ErrMethodNotAllowed), status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: fixed(ErrMethodNotAllowed.Error())},
	{match: is(ErrNotChatApp), status: http.StatusBadRequest, code: "not_chat_app", message: fixed(ErrNotChatApp.Error())},
	{match: is(ErrNotWorkflowApp), status: http.StatusBadRequest, code: "not_workflow_app", message: fixed(ErrNotWorkflowApp.Error())},
	{match: as[*NotFoundError](), status: http.StatusNotFound, code: "not_found", message: unwrapAs[*NotFoundError]()},
	{match: as[*BadRequestError](), status: http.StatusBadRequest, code: "bad_request", message: unwrapAs[*BadRequestError]()},
	{match: is(ErrShuttingDown), status: http.StatusServiceUnavailable, code: "service_unavailable", message: fixed(ErrShuttingDown.Error())},
	{match: as[*StopTimeoutError](), status: http.StatusInternalServerError, code: "internal_server_error", message: unwrapAs[*StopTimeoutError]()},
	{match: is(ErrServerBusy), status: http.StatusServiceUnavailable, code: "service_unavailable", message: fixed(ErrServerBusy.Error())},
	{match: is(ErrPersistenceUnavailable), status: http.StatusServiceUnavailable, code: "persistence_unavailable", message: fixed(ErrPersistenceUnavailable.Error())},
	// Only ever sent as a stream's error event (the response is a 200).
	{match: is(ErrClientTooSlow), status: http.StatusTooManyRequests, code: "client_too_slow", message: fixed(ErrClientTooSlow.Error())},
	// Upload and preview errors.
	{match: is(ErrNoFileUploaded), status: http.StatusBadRequest, code: "no_file_uploaded", message: fixed(ErrNoFileUploaded.Error())},
	{match: is(ErrTooManyFiles), status: http.StatusBadRequest, code: "too_many_files", message: fixed(ErrTooManyFiles.Error())},
	{match: is(ErrUnsupportedFileType), status: http.StatusUnsupportedMediaType, code: "unsupported_file_type", message: fixed(ErrUnsupportedFileType.Error())},
	{match: is(ErrFilenameNotExists), status: http.StatusBadRequest, code: "filename_not_exists_error", message: fixed(ErrFilenameNotExists.Error())},
	{match: is(ErrFileTooLarge), status: http.StatusRequestEntityTooLarge, code: "file_too_large", message: fixed(ErrFileTooLarge.Error())},
	{match: is(ErrFileNotFound), status: http.StatusNotFound, code: "file_not_found", message: fixed(ErrFileNotFound.Error())},
	{match: is(files.ErrSignature), status: http.StatusForbidden, code: "forbidden", message: fixed(files.ErrSignature.Error())},
	// Run-log API errors.
	{match: is(repo.ErrNotFound), status: http.StatusNotFound, code: "not_found", message: fixed(ErrRunNotFound.Error())},
	{match: is(repo.ErrUnavailable), status: http.StatusServiceUnavailable, code: "persistence_unavailable", message: fixed(ErrPersistenceUnavailable.Error())},
	{match: is(repo.ErrInvalid), status: http.StatusBadRequest, code: "invalid_param"},
	// Admin API errors.
	{match: is(run.ErrInvalidDSL), status: http.StatusBadRequest, code: "invalid_param"},
	{match: is(app.ErrInvalid), status: http.StatusBadRequest, code: "invalid_param"},
	{match: is(app.ErrNotFound), status: http.StatusNotFound, code: "not_found"},
	{match: is(app.ErrConflict), status: http.StatusConflict, code: "conflict"},
}

// httpError maps err through errorTable. Anything unmatched is a 500 with a
// generic message; internal reports whether it was unmatched (and so must
// be logged).
func httpError(err error) (h httpErr, internal bool) {
	for _, row := range errorTable {
		if row.match(err) {
			msg := err.Error()
			if row.message != nil {
				msg = row.message(err)
			}
			return httpErr{Status: row.status, Code: row.code, Message: msg}, false
		}
	}
	return httpErr{Status: http.StatusInternalServerError, Code: "internal_server_error", Message: internalMessage}, true
}
