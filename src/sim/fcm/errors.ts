// Google API error bodies as FCM HTTP v1 returns them.
// Source: https://firebase.google.com/docs/cloud-messaging/error-codes ("REST error codes for the
// HTTP v1 API") and https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode. The top-level
// `status` is the canonical google.rpc code; the FCM-specific reason travels in a detail of type
// google.firebase.fcm.v1.FcmError (firebase-admin-node PR #218 shows 404 NOT_FOUND + UNREGISTERED).

export const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError'
export const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest'
export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo'

export interface FieldViolation {
  field?: string
  description: string
}

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> }
}

/** The canonical google.rpc status name for an HTTP status, as Google's JSON APIs pair them. */
export function canonicalStatus(httpStatus: number): string {
  switch (httpStatus) {
    case 400:
      return 'INVALID_ARGUMENT'
    case 401:
      return 'UNAUTHENTICATED'
    case 403:
      return 'PERMISSION_DENIED'
    case 404:
      return 'NOT_FOUND'
    case 429:
      return 'RESOURCE_EXHAUSTED'
    case 503:
      return 'UNAVAILABLE'
    case 504:
      return 'DEADLINE_EXCEEDED'
    default:
      return httpStatus >= 500 ? 'INTERNAL' : 'UNKNOWN'
  }
}

/** The message FCM pairs with each ErrorCode (wording from real responses; only the code is contract). */
export function defaultMessage(errorCode: string): string {
  switch (errorCode) {
    case 'UNREGISTERED':
      return 'Requested entity was not found.'
    case 'INVALID_ARGUMENT':
      return 'The registration token is not a valid FCM registration token'
    case 'SENDER_ID_MISMATCH':
      return 'SenderId mismatch'
    case 'QUOTA_EXCEEDED':
      return 'Quota exceeded for quota metric of service fcm.googleapis.com.'
    case 'UNAVAILABLE':
      return 'The service is currently unavailable.'
    case 'INTERNAL':
      return 'Internal error encountered.'
    case 'THIRD_PARTY_AUTH_ERROR':
      return 'Auth error from APNS or Web Push Service'
    default:
      return 'Request failed.'
  }
}

export function fcmError(
  httpStatus: number,
  errorCode: string | undefined,
  message: string,
  violations?: FieldViolation[],
): GoogleErrorBody {
  const details: Array<Record<string, unknown>> = []
  if (errorCode) details.push({ '@type': FCM_ERROR_TYPE, errorCode })
  if (violations && violations.length > 0) details.push({ '@type': BAD_REQUEST_TYPE, fieldViolations: violations })
  const error: GoogleErrorBody['error'] = { code: httpStatus, message, status: canonicalStatus(httpStatus) }
  if (details.length > 0) error.details = details
  return { error }
}

/** A 401 from Google's front end, before FCM sees the request (no FcmError detail). */
export function unauthenticated(
  reason: 'CREDENTIALS_MISSING' | 'ACCESS_TOKEN_EXPIRED' | 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
): GoogleErrorBody {
  const message =
    reason === 'CREDENTIALS_MISSING'
      ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'
      : 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'
  return {
    error: {
      code: 401,
      message,
      status: 'UNAUTHENTICATED',
      details: [
        {
          '@type': ERROR_INFO_TYPE,
          reason,
          domain: 'googleapis.com',
          metadata: { service: 'fcm.googleapis.com', method: 'google.firebase.fcm.v1.FcmService.SendMessage' },
        },
      ],
    },
  }
}

/** A 403 from IAM when the credentials may not send for the project in the URL. */
export function permissionDenied(project: string): GoogleErrorBody {
  return {
    error: {
      code: 403,
      message: `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist).`,
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': ERROR_INFO_TYPE,
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'cloudresourcemanager.googleapis.com',
          metadata: { permission: 'cloudmessaging.messages.create', resource: `projects/${project}` },
        },
      ],
    },
  }
}
