/**
 * A copy of the four example objects Stripe publishes (stripe-mock's fixtures3.json, MIT licence,
 * snapshot of 2025-11-12) that the fake Stripe answers with. The fake reads the shared file when
 * it is there (../shared/stripe/fixtures3.json, or STRIPE_FIXTURES); this copy keeps the tests
 * running in a checkout without it, and a test checks the two agree.
 */
export const EMBEDDED_FIXTURES: Record<string, Record<string, unknown>> = {
  "customer": {
    "address": {
      "city": null,
      "country": null,
      "line1": null,
      "line2": null,
      "postal_code": null,
      "state": null
    },
    "balance": 0,
    "created": 1234567890,
    "currency": "usd",
    "default_source": null,
    "delinquent": false,
    "description": null,
    "discount": {
      "checkout_session": null,
      "customer": null,
      "end": null,
      "id": "obj_123",
      "invoice": null,
      "invoice_item": null,
      "object": "discount",
      "promotion_code": null,
      "start": 109757538,
      "subscription": null,
      "subscription_item": null,
      "source": {
        "coupon": null,
        "type": "coupon"
      }
    },
    "email": null,
    "id": "cus_QXg1o8vcGmoR32",
    "invoice_prefix": "7FE1103",
    "invoice_settings": {
      "custom_fields": null,
      "default_payment_method": null,
      "footer": null,
      "rendering_options": {
        "amount_tax_display": null,
        "template": null
      }
    },
    "livemode": false,
    "metadata": {},
    "name": null,
    "next_invoice_sequence": 1,
    "object": "customer",
    "phone": null,
    "preferred_locales": [],
    "shipping": {},
    "tax_exempt": "none",
    "test_clock": null
  },
  "billing.meter": {
    "created": 1234567890,
    "customer_mapping": {
      "event_payload_key": "customer",
      "type": "by_id"
    },
    "default_aggregation": {
      "formula": "sum"
    },
    "display_name": "test-meter",
    "event_name": "test-meter-event-name",
    "event_time_window": null,
    "id": "meter_123",
    "livemode": true,
    "object": "billing.meter",
    "status": "active",
    "status_transitions": {
      "deactivated_at": null
    },
    "updated": 1234567890,
    "value_settings": {
      "event_payload_key": "value"
    }
  },
  "billing.meter_event": {
    "created": 1234567890,
    "event_name": "api_request",
    "identifier": "1234-1234",
    "livemode": false,
    "object": "billing.meter_event",
    "payload": {
      "stripe_customer_id": "cus_123",
      "value": "25"
    },
    "timestamp": 1234567890
  },
  "billing.meter_event_summary": {
    "aggregated_value": 25,
    "end_time": 1234567890,
    "id": "mtrusg_123",
    "livemode": false,
    "meter": "mtr_test_61Q8nQMqIFK9fRQmr41CMAXJrFdZ5MnA",
    "object": "billing.meter_event_summary",
    "start_time": 1234567890
  }
};
