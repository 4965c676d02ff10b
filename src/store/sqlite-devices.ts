// The SQLite store's devices: registration, lookup, removal and counts (DeviceStore).
import type { Database } from 'better-sqlite3'
import type { Device } from '../model.js'
import type { SqliteRun } from './sqlite-run.js'
import type { DeviceRegistration, DeviceStore } from './store.js'

export function sqliteDeviceStore(db: Database, run: SqliteRun): Required<DeviceStore> {
  const q = {
    upsertDevice: db.prepare<[string, string, string, number, string | null, string]>(
      `INSERT INTO devices (token, user_id, platform, registered_at, device_id, data) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, platform = excluded.platform,
         registered_at = excluded.registered_at, device_id = excluded.device_id, data = excluded.data`,
    ),
    removePhone: db.prepare<[string, string], { token: string }>(
      'DELETE FROM devices WHERE user_id = ? AND device_id = ? RETURNING token',
    ),
    listDevices: db.prepare<[string], { data: string }>('SELECT data FROM devices WHERE user_id = ? ORDER BY token'),
    getDevice: db.prepare<[string], { data: string }>('SELECT data FROM devices WHERE token = ?'),
    ownerOf: db.prepare<[string], { user_id: string }>('SELECT user_id FROM devices WHERE token = ?'),
    countOf: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM devices WHERE user_id = ?'),
    removeDevice: db.prepare<[string, string]>('DELETE FROM devices WHERE token = ? AND user_id = ?'),
    pruneToken: db.prepare<[string, number | null, number | null]>(
      'DELETE FROM devices WHERE token = ? AND (? IS NULL OR registered_at < ?)',
    ),
    listUserIds: db.prepare<[], { user_id: string }>('SELECT DISTINCT user_id FROM devices'),
    countDevices: db.prepare<[], { platform: string; n: number }>(
      'SELECT platform, COUNT(*) AS n FROM devices GROUP BY platform',
    ),
  }

  const upsertDevice = (device: Device): void => {
    q.upsertDevice.run(
      device.token,
      device.userId,
      device.platform,
      device.registeredAt,
      device.deviceId ?? null,
      JSON.stringify(device),
    )
  }
  const registerDeviceTx = db.transaction((device: Device): DeviceRegistration => {
    const previous = q.ownerOf.get(device.token)?.user_id
    const before = previous === device.userId ? 1 : (q.countOf.get(device.userId)?.n ?? 0)
    upsertDevice(device)
    return {
      device,
      ...(previous !== undefined && previous !== device.userId ? { movedFrom: previous } : {}),
      firstOfAgent: before === 0,
      agentTokens: q.countOf.get(device.userId)?.n ?? 1,
    }
  })

  return {
    upsertDevice: (device: Device) =>
      run(() => {
        upsertDevice(device)
        return device
      }),
    registerDevice: (device: Device) => run(() => registerDeviceTx(device)),
    listDevices: (userId) => run(() => q.listDevices.all(userId).map((r) => JSON.parse(r.data) as Device)),
    getDevice: (token) =>
      run(() => {
        const row = q.getDevice.get(token)
        return row === undefined ? undefined : (JSON.parse(row.data) as Device)
      }),
    removeDevice: (userId, token) => run(() => q.removeDevice.run(token, userId).changes === 1),
    removePhone: (userId, deviceId) => run(() => q.removePhone.all(userId, deviceId).map((r) => r.token)),
    pruneToken: (token, registeredBefore) =>
      run(() => q.pruneToken.run(token, registeredBefore ?? null, registeredBefore ?? null).changes === 1),
    listUserIds: () => run(() => q.listUserIds.all().map((r) => r.user_id)),
    countDevices: () =>
      run(() => {
        const byPlatform: Record<string, number> = {}
        let total = 0
        for (const { platform, n } of q.countDevices.all()) {
          byPlatform[platform] = n
          total += n
        }
        return { total, byPlatform }
      }),
  }
}
