// The operator commands, loaded by cli.ts only when one of them runs.
import { processIo } from './common.js'
import { devicesCommand } from './devices.js'
import { doctorCommand } from './doctor.js'
import { sendTestCommand } from './send-test.js'

export function operatorCommand(command: 'doctor' | 'send-test' | 'devices', args: string[]): Promise<number> {
  switch (command) {
    case 'doctor':
      return doctorCommand(args, processIo)
    case 'send-test':
      return sendTestCommand(args, processIo)
    case 'devices':
      return devicesCommand(args, processIo)
  }
}
