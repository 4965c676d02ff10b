// Checks Genesys-shaped JSON against Genesys' own JavaScript SDK (purecloud-platform-client-v2, a dev
// dependency, never loaded at run time). Its index.d.ts declares every model's fields; the TypeScript
// compiler reads it here. That SDK types enumerations as plain strings, so their values come from
// test/fixtures/genesys/sdk-enums.ts. A field a model does not have, a value of the wrong type or an
// enumeration value the model does not list is a problem.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import ts from 'typescript'
import { SDK_ENUMS } from '../fixtures/genesys/sdk-enums.js'

type Fields = Map<string, string>
let models: Map<string, Fields> | undefined

/** Every interface of the SDK's Models namespace: field name → its type as written. */
export function sdkModels(): Map<string, Fields> {
  if (models) return models
  const require = createRequire(import.meta.url)
  const file = require.resolve('purecloud-platform-client-v2/index.d.ts')
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false)
  const found = new Map<string, Fields>()
  const visit = (node: ts.Node, inModels: boolean): void => {
    if (ts.isModuleDeclaration(node)) {
      const named = node.name.getText(source) === 'Models'
      node.forEachChild((child) => visit(child, inModels || named))
      return
    }
    if (inModels && ts.isInterfaceDeclaration(node)) {
      const fields: Fields = new Map()
      for (const member of node.members) {
        if (!ts.isPropertySignature(member) || !member.type) continue
        fields.set(member.name.getText(source).replace(/^"|"$/g, ''), member.type.getText(source).replace(/\s+/g, ' '))
      }
      found.set(node.name.text, fields)
      return
    }
    node.forEachChild((child) => visit(child, inModels))
  }
  visit(source, false)
  models = found
  return found
}

/** The problems of `value` as an instance of the SDK model `model` (empty when it fits). */
export function modelProblems(model: string, value: unknown, path: string = model): string[] {
  const fields = sdkModels().get(model)
  if (!fields) return [`${path}: the SDK has no model ${model}`]
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`${path}: expected an object (${model})`]
  const problems: string[] = []
  for (const [key, fieldValue] of Object.entries(value)) {
    const type = fields.get(key)
    if (type === undefined) {
      problems.push(`${path}.${key}: not a field of ${model}`)
      continue
    }
    problems.push(...typeProblems(type, fieldValue, `${path}.${key}`))
    const allowed = SDK_ENUMS[`${model}.${key}`]
    for (const item of Array.isArray(fieldValue) ? (fieldValue as unknown[]) : [fieldValue]) {
      if (allowed && !allowed.includes(String(item)))
        problems.push(`${path}.${key}: ${JSON.stringify(item)} is not one of ${model}.${key}'s values`)
    }
  }
  return problems
}

function typeProblems(type: string, value: unknown, path: string): string[] {
  const array = /^Array<(.+)>$/.exec(type)
  if (array?.[1] !== undefined) {
    if (!Array.isArray(value)) return [`${path}: expected an array (${type})`]
    const itemType = array[1]
    return (value as unknown[]).flatMap((item, i) => typeProblems(itemType, item, `${path}[${i}]`))
  }
  const model = /^Models\.(\w+)$/.exec(type)
  if (model?.[1] !== undefined) return modelProblems(model[1], value, path)
  if (type === 'string' || type === 'number' || type === 'boolean')
    return typeof value === type ? [] : [`${path}: expected a ${type}, got ${JSON.stringify(value)}`]
  if (type.startsWith('{ [key: string]:'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? [] : [`${path}: expected a map`]
  return []
}

/** The SDK model of a topic's eventBody (the notification topic mappings, for the topics we read). */
export function modelOfTopic(topicName: string): string | undefined {
  if (/^v2\.users\.[^.]+\.conversations$/.test(topicName)) return 'ConversationEventTopicConversation'
  if (/^v2\.routing\.queues\.[^.]+\.conversations$/.test(topicName)) return 'QueueConversationEventTopicConversation'
  const detail = /^v2\.detail\.events\.conversation\.[^.]+\.(user\.start|user\.end|acd\.start|acd\.end)$/.exec(
    topicName,
  )?.[1]
  const byKind: Record<string, string> = {
    'user.start': 'UserStartDetailEventTopicUserStartEvent',
    'user.end': 'UserEndDetailEventTopicUserEndEvent',
    'acd.start': 'AcdStartDetailEventTopicAcdStartEvent',
    'acd.end': 'AcdEndDetailEventTopicAcdEndEvent',
  }
  return detail === undefined ? undefined : byKind[detail]
}
