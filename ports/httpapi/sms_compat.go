package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/sms"
)

// The routes of the original SMS service, on compatServer.

type compatSMSAccepted struct {
	UUID   string `json:"uuid"`
	Number string `json:"number"`
	Text   string `json:"text"`
}

type compatSMSOutcome struct {
	UUID string `json:"uuid"`
	// Value is null until the SMS is sent ("OK") or failed ("FAIL").
	Value *string `json:"value"`
}

var compatSMSValues = map[sms.Status]string{sms.StatusSent: "OK", sms.StatusFailed: "FAIL"}

func (s compatServer) addCompatSMSRoutes(e *echo.Echo) {
	if s.app.Commands.SubmitSendSMS != nil {
		e.POST("/sms", s.compatSendSMS)
	}
	if s.app.Queries.SMSStatus != nil {
		e.GET("/key/:uuid", s.compatSMSOutcome)
	}
}

func (s compatServer) compatSendSMS(c echo.Context) error {
	var body sendSMSRequest
	// Unknown fields are ignored, as the original did.
	if err := decodeCompatBody(c, &body, map[string]**string{"number": &body.Number, "text": &body.Text}); err != nil {
		return err
	}
	req, err := body.submission()
	if err != nil {
		return err
	}
	submission, err := s.app.Commands.SubmitSendSMS.Handle(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, compatSMSAccepted{UUID: submission.ID, Number: submission.Number, Text: submission.Text})
}

// compatSMSOutcome answers null for an SMS it does not know, as the original
// did for a key it had not written yet, rather than 404.
func (s compatServer) compatSMSOutcome(c echo.Context) error {
	id := c.Param("uuid")
	report, err := s.app.Queries.SMSStatus.Handle(c.Request().Context(), query.SMSStatus{SMSID: id})
	switch {
	case apperr.CodeOf(err) == apperr.NotFound:
		return c.JSON(http.StatusOK, compatSMSOutcome{UUID: id})
	case err != nil:
		return err
	}
	outcome := compatSMSOutcome{UUID: report.SMSID}
	if value, ok := compatSMSValues[report.Status]; ok {
		outcome.Value = &value
	}
	return c.JSON(http.StatusOK, outcome)
}
