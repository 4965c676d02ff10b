// The memory store's devices, keyed by token (DeviceStore). Callers get copies, never the stored object.
import type { Device } from '../model.js'
import type { DeviceStore } from './store.js'

export function memoryDeviceStore(devices: Map<string, Device>): DeviceStore {
  return {
    async upsertDevice(device) {
      devices.set(device.token, structuredClone(device))
      return structuredClone(device)
    },

    async listDevices(userId) {
      const out: Device[] = []
      for (const d of devices.values()) if (d.userId === userId) out.push(structuredClone(d))
      return out
    },

    async getDevice(token) {
      const d = devices.get(token)
      return d === undefined ? undefined : structuredClone(d)
    },

    async removeDevice(userId, token) {
      const d = devices.get(token)
      if (d === undefined || d.userId !== userId) return false
      devices.delete(token)
      return true
    },

    async removePhone(userId, deviceId) {
      const removed: string[] = []
      for (const d of devices.values()) if (d.userId === userId && d.deviceId === deviceId) removed.push(d.token)
      for (const token of removed) devices.delete(token)
      return removed
    },

    async pruneToken(token, registeredBefore) {
      const d = devices.get(token)
      if (d === undefined) return false
      if (registeredBefore !== undefined && d.registeredAt >= registeredBefore) return false
      devices.delete(token)
      return true
    },

    async listUserIds() {
      const ids = new Set<string>()
      for (const d of devices.values()) ids.add(d.userId)
      return [...ids]
    },

    async countDevices() {
      const byPlatform: Record<string, number> = {}
      for (const d of devices.values()) byPlatform[d.platform] = (byPlatform[d.platform] ?? 0) + 1
      return { total: devices.size, byPlatform }
    },
  }
}
