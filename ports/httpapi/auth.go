package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
)

// Access control (AUTH_MODE=apikey): every route has a rule in accessRules,
// the middleware of WithAPIKeys enforces it, and a route without a rule is
// refused to everyone, so that a new route is closed until someone decides
// who may call it.

// AccessRule is who may call one route.
type AccessRule struct {
	// Public routes need no key, ever: health, the page and its files, the
	// OpenAPI document.
	Public bool
	// Scope is what a key needs to call the route.
	Scope access.Scope
	// PublicRead routes are served without a key when AUTH_PUBLIC_READS is
	// set: the reads of techs.
	PublicRead bool
}

// accessRules maps every route, by method and echo path template, to its
// rule. The compatibility routes need what their modern twins need.
var accessRules = map[string]AccessRule{
	"GET /healthz":                     {Public: true},
	"GET /readyz":                      {Public: true},
	"GET /":                            {Public: true},
	"GET /assets/:name":                {Public: true},
	http.MethodGet + " " + OpenAPIPath: {Public: true},

	"POST /api/techs":       {Scope: access.TechsWrite},
	"POST /create":          {Scope: access.TechsWrite},
	"GET /api/techs":        {Scope: access.TechsRead, PublicRead: true},
	"GET /api/techs/:id":    {Scope: access.TechsRead, PublicRead: true},
	"GET /get":              {Scope: access.TechsRead, PublicRead: true},
	"GET /api/commands/:id": {Scope: access.TechsRead},
	"GET /api/policy":       {Scope: access.TechsRead, PublicRead: true},
	// Curating changes what every reader sees: the owners' work.
	"POST /api/techs/:id/retire": {Scope: access.Admin},
	"POST /api/techs/:id/merge":  {Scope: access.Admin},

	"POST /api/sms":    {Scope: access.SMSSend},
	"POST /sms":        {Scope: access.SMSSend},
	"GET /api/sms/:id": {Scope: access.SMSRead},
	"GET /key/:uuid":   {Scope: access.SMSRead},

	// Metrics on the public listener tell about every client's traffic.
	http.MethodGet + " " + MetricsPath: {Scope: access.Admin},
}

// RouteAccess is the rule of the route method path (an echo template, as
// e.Routes() lists it); ok is false for a route that has none, which the API
// refuses to everyone.
func RouteAccess(method, path string) (rule AccessRule, ok bool) {
	rule, ok = accessRules[method+" "+path]
	return rule, ok
}

// WithAPIKeys makes the API ask for API keys: every route but the public ones
// needs a key, authenticated by authenticate, that holds the route's scope.
// With publicReads, the reads of techs are served without a key.
func WithAPIKeys(authenticate query.AuthenticateAPIKeyHandler, publicReads bool) HTTPOption {
	return func(o *httpOptions) {
		o.apiKeys = &apiKeyAccess{authenticate: authenticate, publicReads: publicReads}
	}
}

// APIKeyHeader carries an API key, for clients that cannot set Authorization.
//
// #nosec G101 -- the name of a header, not a credential
const APIKeyHeader = "X-API-Key"

// maxPresentedKeyLength bounds what is read from the headers; a key is far
// shorter.
const maxPresentedKeyLength = 128

type apiKeyAccess struct {
	authenticate query.AuthenticateAPIKeyHandler
	publicReads  bool

	// registered is every route the echo instance serves, by method and
	// template, read at the first request, once every route is registered.
	registeredOnce sync.Once
	registered     map[string]bool
}

func (a *apiKeyAccess) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		// A CORS preflight carries no credentials (browsers never send them
		// on one): it passes, and the request it announces is checked.
		if req.Method == http.MethodOptions {
			return next(c)
		}
		route := req.Method + " " + c.Path()
		rule, known := accessRules[route]
		if !known {
			if !a.isRegistered(c.Echo(), route) {
				return next(c) // no such route: echo's 404 or 405
			}
			return &requestError{status: http.StatusForbidden, code: "forbidden",
				message: "this route has no access rule yet, and is refused to every key until it has one"}
		}
		if rule.Public {
			return next(c)
		}
		openRead := a.publicReads && rule.PublicRead

		key, presented, err := presentedAPIKey(req.Header)
		if err != nil {
			return unauthenticated(c, true, err.Error())
		}
		if !presented {
			if openRead {
				return next(c)
			}
			return unauthenticated(c, false, "this route needs an API key: send Authorization: Bearer <key> or "+APIKeyHeader+": <key>")
		}
		principal, err := a.authenticate.Handle(req.Context(), query.AuthenticateAPIKey{Key: key})
		if errors.Is(err, query.ErrUnauthenticated) {
			return unauthenticated(c, true, err.Error())
		}
		if err != nil {
			return err // the store is down: 503
		}
		if !principal.Can(rule.Scope) && !openRead {
			return &requestError{status: http.StatusForbidden, code: "forbidden",
				message: fmt.Sprintf("the API key %q lacks the scope %s, which this route needs", principal.KeyName, rule.Scope)}
		}
		c.SetRequest(req.WithContext(access.WithPrincipal(req.Context(), principal)))
		return next(c)
	}
}

func (a *apiKeyAccess) isRegistered(e *echo.Echo, route string) bool {
	a.registeredOnce.Do(func() {
		a.registered = map[string]bool{}
		for _, r := range e.Routes() {
			a.registered[r.Method+" "+r.Path] = true
		}
	})
	return a.registered[route]
}

// unauthenticated is the 401 answer, with the challenge RFC 6750 asks for;
// invalid says a key was sent and refused.
func unauthenticated(c echo.Context, invalid bool, message string) error {
	challenge := `Bearer realm="techradar"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return &requestError{status: http.StatusUnauthorized, code: "unauthenticated", message: message}
}

// presentedAPIKey reads the key a request presents, in Authorization as a
// bearer token or in X-API-Key; presented is false when it presents none.
// Anything else is an error: two keys (even twice the same), another scheme,
// an empty or oversized key, or characters no key has.
func presentedAPIKey(h http.Header) (key string, presented bool, err error) {
	bearers, apiKeys := h.Values(echo.HeaderAuthorization), h.Values(APIKeyHeader)
	switch {
	case len(bearers)+len(apiKeys) == 0:
		return "", false, nil
	case len(bearers)+len(apiKeys) > 1:
		return "", true, errors.New("send one API key, in Authorization or in " + APIKeyHeader + ", once")
	case len(bearers) == 1:
		scheme, token, found := strings.Cut(bearers[0], " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", true, errors.New("the Authorization header must be Bearer <key>")
		}
		key = token
	default:
		key = apiKeys[0]
	}
	if key == "" || len(key) > maxPresentedKeyLength || strings.Trim(key, tokenCharacters) != "" {
		return "", true, errors.New("the API key is malformed")
	}
	return key, true, nil
}

// tokenCharacters are those of a bearer token (RFC 6750's b64token), which
// the keys' base64url is made of.
const tokenCharacters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
