package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

type sendSMSRequest struct {
	Number *string `json:"number"`
	Text   *string `json:"text"`
}

type smsAccepted struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Text   string `json:"text"`
	Status string `json:"status"`
}

type smsStatusResponse struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	Attempts          int    `json:"attempts"`
	ProviderMessageID string `json:"providerMessageId,omitempty"`
	Error             string `json:"error,omitempty"`
}

// addSMSRoutes registers the SMS routes of the parts of the application that
// are set, as NewHTTPHandler does for the others.
func (s HTTPServer) addSMSRoutes(e *echo.Echo) {
	if s.app.Commands.SubmitSendSMS != nil {
		e.POST("/api/sms", s.sendSMS)
	}
	if s.app.Queries.SMSStatus != nil {
		e.GET("/api/sms/:id", s.smsStatus)
	}
}

// sendSMS accepts an SMS. An Idempotency-Key header names it: a retried POST
// answers with the SMS the first one accepted instead of sending another; the
// key reused for another SMS is 422.
func (s HTTPServer) sendSMS(c echo.Context) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var body sendSMSRequest
	if err := decodeJSONBody(c, &body, true); err != nil {
		return err
	}
	req, err := body.submission()
	if err != nil {
		return err
	}
	req.IdempotencyKey = key
	submission, err := s.app.Commands.SubmitSendSMS.Handle(c.Request().Context(), req)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/sms/"+submission.ID)
	return c.JSON(http.StatusAccepted, smsAccepted{ID: submission.ID, Number: submission.Number, Text: submission.Text, Status: string(submission.Status)})
}

// submission checks that both fields came; the use case checks their values.
func (b sendSMSRequest) submission() (command.SubmitSendSMS, error) {
	if b.Number == nil {
		return command.SubmitSendSMS{}, badRequest("invalid", "number", "number is required")
	}
	if b.Text == nil {
		return command.SubmitSendSMS{}, badRequest("invalid", "text", "text is required")
	}
	return command.SubmitSendSMS{Number: *b.Number, Text: *b.Text}, nil
}

func (s HTTPServer) smsStatus(c echo.Context) error {
	report, err := s.app.Queries.SMSStatus.Handle(c.Request().Context(), query.SMSStatus{SMSID: c.Param("id")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, smsStatusResponse{
		ID:                report.SMSID,
		Status:            string(report.Status),
		Attempts:          report.Attempts,
		ProviderMessageID: report.ProviderMessageID,
		Error:             report.Error,
	})
}
