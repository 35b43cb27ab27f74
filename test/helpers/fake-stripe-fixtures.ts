/**
 * A copy of the example objects Stripe publishes (stripe-mock's fixtures3.json, MIT licence,
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
  },
  "product": {
    "active": true,
    "created": 1234567890,
    "default_price": "price_1PgafmB7WZ01zgkW02Hf9z6c",
    "description": "Comfortable gray cotton t-shirt",
    "id": "prod_QXg1hqf4jFNsqG",
    "images": [],
    "livemode": false,
    "marketing_features": [],
    "metadata": {},
    "name": "T-shirt",
    "object": "product",
    "package_dimensions": {
      "height": 1221029593,
      "length": 1106363674,
      "weight": 791592328,
      "width": 113126854
    },
    "shippable": null,
    "statement_descriptor": null,
    "tax_code": null,
    "unit_label": null,
    "updated": 1234567890,
    "url": null,
    "type": "good"
  },
  "price": {
    "active": true,
    "billing_scheme": "per_unit",
    "created": 1234567890,
    "currency": "usd",
    "custom_unit_amount": {
      "maximum": null,
      "minimum": null,
      "preset": null
    },
    "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
    "livemode": false,
    "lookup_key": null,
    "metadata": {},
    "nickname": null,
    "object": "price",
    "product": "prod_QXg1hqf4jFNsqG",
    "recurring": {
      "interval": "month",
      "interval_count": 1,
      "meter": null,
      "usage_type": "licensed",
      "trial_period_days": null
    },
    "tax_behavior": "unspecified",
    "tiers_mode": null,
    "transform_quantity": {
      "divide_by": 1592560163,
      "round": "down"
    },
    "type": "recurring",
    "unit_amount": 2000,
    "unit_amount_decimal": "2000"
  },
  "subscription": {
    "application": null,
    "application_fee_percent": null,
    "automatic_tax": {
      "enabled": false,
      "liability": {
        "type": "account"
      },
      "disabled_reason": null
    },
    "billing_cycle_anchor": 1234567890,
    "billing_cycle_anchor_config": {
      "day_of_month": 1361669285,
      "hour": null,
      "minute": null,
      "month": null,
      "second": null
    },
    "cancel_at": 1234567890,
    "canceled_at": 1234567890,
    "cancellation_details": {
      "comment": null,
      "feedback": null,
      "reason": null
    },
    "collection_method": "charge_automatically",
    "created": 1234567890,
    "currency": "usd",
    "customer": "cus_QXg1o8vcGmoR32",
    "days_until_due": null,
    "default_payment_method": null,
    "default_source": null,
    "default_tax_rates": [],
    "description": null,
    "discounts": [],
    "ended_at": 1234567890,
    "id": "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
    "invoice_settings": {
      "account_tax_ids": null,
      "issuer": {
        "type": "self"
      }
    },
    "items": {
      "data": [
        {
          "created": 1721954054,
          "discounts": [],
          "id": "si_QXhVnC2h0Jczwc",
          "metadata": {},
          "object": "subscription_item",
          "price": {
            "active": true,
            "billing_scheme": "per_unit",
            "created": 1721948530,
            "currency": "usd",
            "custom_unit_amount": {
              "maximum": null,
              "minimum": null,
              "preset": null
            },
            "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
            "livemode": false,
            "lookup_key": null,
            "metadata": {},
            "nickname": null,
            "object": "price",
            "product": "prod_QXg1hqf4jFNsqG",
            "recurring": {
              "interval": "month",
              "interval_count": 1,
              "meter": null,
              "usage_type": "licensed",
              "trial_period_days": null
            },
            "tax_behavior": "unspecified",
            "tiers_mode": null,
            "transform_quantity": {
              "divide_by": 1592560163,
              "round": "down"
            },
            "type": "recurring",
            "unit_amount": 2000,
            "unit_amount_decimal": "2000"
          },
          "quantity": 1,
          "subscription": "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
          "tax_rates": [],
          "plan": {
            "active": true,
            "amount": null,
            "amount_decimal": null,
            "billing_scheme": "tiered",
            "created": 1028554472,
            "currency": "currency",
            "id": "obj_123",
            "interval": "month",
            "interval_count": 797691627,
            "livemode": true,
            "metadata": null,
            "meter": null,
            "nickname": null,
            "object": "plan",
            "product": null,
            "tiers_mode": null,
            "transform_usage": {
              "divide_by": 1592560163,
              "round": "down"
            },
            "trial_period_days": null,
            "usage_type": "licensed"
          },
          "current_period_end": 976287773,
          "current_period_start": 1896570518,
          "billing_thresholds": {
            "usage_gte": null
          }
        }
      ],
      "has_more": false,
      "object": "list",
      "url": "/v1/subscription_items?subscription=sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
    },
    "latest_invoice": null,
    "livemode": false,
    "metadata": {},
    "next_pending_invoice_item_invoice": 1234567890,
    "object": "subscription",
    "on_behalf_of": null,
    "pause_collection": {
      "behavior": "mark_uncollectible",
      "resumes_at": null
    },
    "payment_settings": {
      "payment_method_options": {
        "acss_debit": {},
        "bancontact": {
          "preferred_language": "fr"
        },
        "card": {
          "network": null,
          "request_three_d_secure": null
        },
        "customer_balance": {
          "funding_type": null
        },
        "konbini": {},
        "sepa_debit": {},
        "us_bank_account": {}
      },
      "payment_method_types": null,
      "save_default_payment_method": null
    },
    "pending_invoice_item_interval": {
      "interval": "month",
      "interval_count": 797691627
    },
    "pending_setup_intent": null,
    "pending_update": {
      "billing_cycle_anchor": null,
      "expires_at": 833811170,
      "subscription_items": null,
      "trial_end": null,
      "trial_from_plan": null
    },
    "schedule": null,
    "start_date": 1234567890,
    "status": "active",
    "test_clock": null,
    "transfer_data": {
      "amount_percent": null,
      "destination": {
        "id": "obj_123",
        "object": "account"
      }
    },
    "trial_end": 1234567890,
    "trial_settings": {
      "end_behavior": {
        "missing_payment_method": "create_invoice"
      }
    },
    "trial_start": 1234567890,
    "cancel_at_period_end": true,
    "billing_thresholds": {
      "amount_gte": null,
      "reset_billing_cycle_anchor": null
    },
    "billing_mode": {
      "type": "classic",
      "flexible": {}
    }
  },
  "subscription_item": {
    "created": 1721954060,
    "discounts": [],
    "id": "si_QXhVBoJ7NQdNXh",
    "metadata": {},
    "object": "subscription_item",
    "price": {
      "active": true,
      "billing_scheme": "per_unit",
      "created": 1721948530,
      "currency": "usd",
      "custom_unit_amount": {
        "maximum": null,
        "minimum": null,
        "preset": null
      },
      "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
      "livemode": false,
      "lookup_key": null,
      "metadata": {},
      "nickname": null,
      "object": "price",
      "product": "prod_QXg1hqf4jFNsqG",
      "recurring": {
        "interval": "month",
        "interval_count": 1,
        "meter": null,
        "usage_type": "licensed",
        "trial_period_days": null
      },
      "tax_behavior": "unspecified",
      "tiers_mode": null,
      "transform_quantity": {
        "divide_by": 1592560163,
        "round": "down"
      },
      "type": "recurring",
      "unit_amount": 2000,
      "unit_amount_decimal": "2000"
    },
    "quantity": 1,
    "subscription": "sub_1Pgc6xB7WZ01zgkWJMvZp5ja",
    "tax_rates": [],
    "plan": {
      "active": true,
      "amount": null,
      "amount_decimal": null,
      "billing_scheme": "tiered",
      "created": 1028554472,
      "currency": "currency",
      "id": "obj_123",
      "interval": "month",
      "interval_count": 797691627,
      "livemode": true,
      "metadata": null,
      "meter": null,
      "nickname": null,
      "object": "plan",
      "product": null,
      "tiers_mode": null,
      "transform_usage": {
        "divide_by": 1592560163,
        "round": "down"
      },
      "trial_period_days": null,
      "usage_type": "licensed"
    },
    "current_period_end": 976287773,
    "current_period_start": 1896570518,
    "billing_thresholds": {
      "usage_gte": null
    }
  },
  "invoice": {
    "account_country": "US",
    "account_name": null,
    "account_tax_ids": null,
    "amount_due": 1000,
    "amount_paid": 0,
    "amount_remaining": 1000,
    "amount_shipping": 0,
    "application": null,
    "attempt_count": 0,
    "attempted": false,
    "auto_advance": false,
    "automatic_tax": {
      "enabled": false,
      "liability": {
        "type": "account"
      },
      "status": null,
      "disabled_reason": null,
      "provider": null
    },
    "billing_reason": "manual",
    "collection_method": "charge_automatically",
    "created": 1234567890,
    "currency": "usd",
    "custom_fields": null,
    "customer": "cus_QXg1o8vcGmoR32",
    "customer_address": {
      "city": null,
      "country": null,
      "line1": null,
      "line2": null,
      "postal_code": null,
      "state": null
    },
    "customer_email": null,
    "customer_name": null,
    "customer_phone": null,
    "customer_shipping": {},
    "customer_tax_exempt": "none",
    "customer_tax_ids": [],
    "default_payment_method": null,
    "default_source": null,
    "default_tax_rates": [],
    "description": null,
    "discounts": [],
    "due_date": 1234567890,
    "effective_at": 1234567890,
    "ending_balance": null,
    "footer": null,
    "from_invoice": {
      "action": "action",
      "invoice": "invoice"
    },
    "hosted_invoice_url": null,
    "id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
    "invoice_pdf": null,
    "issuer": {
      "type": "self"
    },
    "last_finalization_error": {
      "type": "idempotency_error"
    },
    "latest_revision": null,
    "lines": {
      "data": [
        {
          "amount": 1000,
          "currency": "usd",
          "description": "My First Invoice Item (created for API docs)",
          "discount_amounts": [],
          "discountable": true,
          "discounts": [],
          "id": "il_1Pgc6sB7WZ01zgkWFnxLrLCq",
          "invoice": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
          "livemode": false,
          "metadata": {},
          "object": "line_item",
          "period": {
            "end": 1721954054,
            "start": 1721954054
          },
          "quantity": 1,
          "subscription": null,
          "pretax_credit_amounts": null,
          "taxes": null,
          "parent": {
            "invoice_item_details": {
              "invoice_item": "invoice_item",
              "proration": true,
              "proration_details": {
                "credited_items": {
                  "invoice": "invoice",
                  "invoice_line_items": [
                    "invoice_line_items"
                  ]
                }
              },
              "subscription": null
            },
            "subscription_item_details": {
              "invoice_item": null,
              "proration": true,
              "proration_details": {
                "credited_items": {
                  "invoice": "invoice",
                  "invoice_line_items": [
                    "invoice_line_items"
                  ]
                }
              },
              "subscription": "subscription",
              "subscription_item": "subscription_item"
            },
            "type": "invoice_item_details"
          },
          "pricing": {
            "type": "price_details",
            "unit_amount_decimal": null
          }
        }
      ],
      "has_more": false,
      "object": "list",
      "url": "/v1/invoices/in_1Pgc6tB7WZ01zgkWu9fdqL6I/lines"
    },
    "livemode": false,
    "metadata": {},
    "next_payment_attempt": 1234567890,
    "number": null,
    "object": "invoice",
    "on_behalf_of": null,
    "payment_settings": {
      "default_mandate": null,
      "payment_method_options": {
        "acss_debit": {},
        "bancontact": {
          "preferred_language": "fr"
        },
        "card": {
          "request_three_d_secure": null
        },
        "customer_balance": {
          "funding_type": null
        },
        "konbini": {},
        "sepa_debit": {},
        "us_bank_account": {}
      },
      "payment_method_types": null
    },
    "period_end": 1234567890,
    "period_start": 1234567890,
    "post_payment_credit_notes_amount": 0,
    "pre_payment_credit_notes_amount": 0,
    "receipt_number": null,
    "rendering": {
      "amount_tax_display": null,
      "pdf": {
        "page_size": null
      },
      "template": null,
      "template_version": null
    },
    "shipping_cost": {
      "amount_subtotal": 1555417355,
      "amount_tax": 1424534716,
      "amount_total": 1117121693,
      "shipping_rate": null
    },
    "shipping_details": {},
    "starting_balance": 0,
    "statement_descriptor": null,
    "status": "draft",
    "status_transitions": {
      "finalized_at": null,
      "marked_uncollectible_at": null,
      "paid_at": null,
      "voided_at": null
    },
    "subscription": null,
    "subtotal": 1000,
    "subtotal_excluding_tax": 1000,
    "test_clock": null,
    "total": 1000,
    "total_discount_amounts": [],
    "total_excluding_tax": 1000,
    "webhooks_delivered_at": 1234567890,
    "automatically_finalizes_at": null,
    "total_pretax_credit_amounts": null,
    "total_taxes": null,
    "amount_overpaid": 149300825,
    "parent": {
      "quote_details": {
        "quote": "quote"
      },
      "subscription_details": {
        "metadata": null,
        "subscription": "subscription"
      },
      "type": "quote_details"
    }
  },
  "line_item": {
    "amount": 1000,
    "currency": "usd",
    "description": "My First Invoice Item (created for API docs)",
    "discount_amounts": [],
    "discountable": true,
    "discounts": [],
    "id": "il_tmp_1Pgc6sB7WZ01zgkWrG16hkdl",
    "invoice": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
    "livemode": false,
    "metadata": {},
    "object": "line_item",
    "period": {
      "end": 1721954054,
      "start": 1721954054
    },
    "quantity": 1,
    "subscription": null,
    "pretax_credit_amounts": null,
    "taxes": null,
    "parent": {
      "invoice_item_details": {
        "invoice_item": "invoice_item",
        "proration": true,
        "proration_details": {
          "credited_items": {
            "invoice": "invoice",
            "invoice_line_items": [
              "invoice_line_items"
            ]
          }
        },
        "subscription": null
      },
      "subscription_item_details": {
        "invoice_item": null,
        "proration": true,
        "proration_details": {
          "credited_items": {
            "invoice": "invoice",
            "invoice_line_items": [
              "invoice_line_items"
            ]
          }
        },
        "subscription": "subscription",
        "subscription_item": "subscription_item"
      },
      "type": "invoice_item_details"
    },
    "pricing": {
      "type": "price_details",
      "unit_amount_decimal": null
    }
  },
  "event": {
    "api_version": null,
    "created": 1234567890,
    "data": {
      "object": {
        "active": true,
        "aggregate_usage": null,
        "amount": 2000,
        "amount_decimal": "2000",
        "billing_scheme": "per_unit",
        "created": 1721948530,
        "currency": "usd",
        "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
        "interval": "month",
        "interval_count": 1,
        "livemode": false,
        "metadata": {},
        "meter": null,
        "nickname": null,
        "object": "plan",
        "product": "prod_QXg1hqf4jFNsqG",
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed"
      }
    },
    "id": "evt_1Pgc76B7WZ01zgkWwyRHS12y",
    "livemode": false,
    "object": "event",
    "pending_webhooks": 0,
    "request": {
      "id": null,
      "idempotency_key": null
    },
    "type": "plan.created"
  }
};
