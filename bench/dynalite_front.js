// A local DynamoDB endpoint for `bench/api_scaling.py --backend dynalite`: dynalite (DynamoDB on LevelDB, npm)
// behind a small front that adds what dynalite 4.0 lacks and the app sends, and forwards every other service
// (S3, SQS ...) to a moto server, so the app still sees one endpoint.
//
//   node bench/dynalite_front.js --modules DIR --path DB_DIR --other http://127.0.0.1:MOTO_PORT
//
// DIR holds node_modules/dynalite (the bench installs it there with npm). Prints "listening PORT" once ready.
// Added: TransactWriteItems and TransactGetItems, serialised one at a time (every condition is evaluated with
// dynalite's own expression parser and matcher against the item as stored, then each Put/Update/Delete is applied
// with its condition; a failed condition cancels the whole transaction with DynamoDB's CancellationReasons).
// Not isolated from a concurrent non-transactional write to the same item, which the bench never makes while it
// measures. UpdateTimeToLive, Update/DescribeContinuousBackups and an UpdateTable that only turns a stream on are
// accepted and ignored (nothing expires, no stream is kept: the bench reads neither).
'use strict'

const http = require('http')
const path = require('path')

function option (name, fallback) {
  const at = process.argv.indexOf('--' + name)
  return at >= 0 ? process.argv[at + 1] : fallback
}

const modules = path.resolve(option('modules', '.'))
const dynaliteDir = path.join(modules, 'node_modules', 'dynalite')
const dynalite = require(dynaliteDir)
const validations = require(path.join(dynaliteDir, 'validations'))
const db = require(path.join(dynaliteDir, 'db'))
const other = new URL(option('other', 'http://127.0.0.1:5000'))
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const API = 'DynamoDB_20120810.'
const AUTH = 'AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/dynamodb/aws4_request, ' +
  'SignedHeaders=host, Signature=0'

const inner = dynalite({ path: option('path'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
let innerPort = 0

function forward (host, port, req, body) {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, 'content-length': Buffer.byteLength(body) }
    const out = http.request({ host, port, method: req.method, path: req.url, headers, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    out.on('error', reject)
    out.end(body)
  })
}

async function dynamo (operation, data) {
  const body = JSON.stringify(data)
  const req = {
    method: 'POST', url: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': API + operation,
      authorization: AUTH, 'x-amz-date': '20200101T000000Z' },
  }
  const answer = await forward('127.0.0.1', innerPort, req, body)
  const parsed = JSON.parse(answer.body.toString() || '{}')
  if (answer.status !== 200) {
    const err = new Error(parsed.message || parsed.Message || operation + ' failed')
    err.status = answer.status
    err.body = parsed
    throw err
  }
  return parsed
}

const keySchemas = new Map()
async function keyOf (table, item) {
  if (!keySchemas.has(table)) {
    keySchemas.set(table, (await dynamo('DescribeTable', { TableName: table })).Table.KeySchema)
  }
  const key = {}
  for (const { AttributeName } of keySchemas.get(table)) key[AttributeName] = item[AttributeName]
  return key
}

function invalid (message) {
  const err = new Error(message)
  err.status = 400
  err.body = { __type: 'com.amazon.coral.validate#ValidationException', message }
  return err
}

let queue = Promise.resolve()
function serialised (work) {
  const run = queue.then(work, work)
  queue = run.catch(() => {})
  return run
}

async function transactWrite (data) {
  const items = data.TransactItems || []
  if (!items.length || items.length > 100) throw invalid('TransactItems must hold 1 to 100 items')
  const reasons = []
  let cancelled = false
  for (const entry of items) {
    const kind = Object.keys(entry)[0]
    const op = entry[kind]
    let reason = { Code: 'None' }
    if (op.ConditionExpression) {
      const parsed = {
        ConditionExpression: op.ConditionExpression,
        ExpressionAttributeNames: op.ExpressionAttributeNames,
        ExpressionAttributeValues: op.ExpressionAttributeValues,
      }
      if (kind === 'Update') parsed.UpdateExpression = op.UpdateExpression
      const msg = validations.validateExpressions(parsed)
      if (msg) throw invalid(msg)
      const key = kind === 'Put' ? await keyOf(op.TableName, op.Item) : op.Key
      const stored = (await dynamo('GetItem', { TableName: op.TableName, Key: key, ConsistentRead: true })).Item
      if (!db.matchesExprFilter(stored || {}, parsed._condition.expression)) {
        reason = { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }
        if (op.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && stored) reason.Item = stored
        cancelled = true
      }
    }
    reasons.push(reason)
  }
  if (cancelled) {
    const err = new Error('cancelled')
    err.status = 400
    err.body = {
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [' +
        reasons.map((r) => r.Code).join(', ') + ']',
      CancellationReasons: reasons,
    }
    throw err
  }
  for (const entry of items) {
    const kind = Object.keys(entry)[0]
    if (kind === 'ConditionCheck') continue
    const { ReturnValuesOnConditionCheckFailure, ...op } = entry[kind] // eslint-disable-line no-unused-vars
    await dynamo({ Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem' }[kind], op)
  }
  return {}
}

async function transactGet (data) {
  const responses = []
  for (const { Get } of data.TransactItems || []) {
    const answer = await dynamo('GetItem', { ...Get, ConsistentRead: true })
    responses.push(answer.Item ? { Item: answer.Item } : {})
  }
  return { Responses: responses }
}

async function handled (operation, data) {
  switch (operation) {
    case 'TransactWriteItems': return serialised(() => transactWrite(data))
    case 'TransactGetItems': return serialised(() => transactGet(data))
    case 'UpdateTimeToLive': return { TimeToLiveSpecification: data.TimeToLiveSpecification }
    case 'UpdateContinuousBackups':
    case 'DescribeContinuousBackups':
      return { ContinuousBackupsDescription: { ContinuousBackupsStatus: 'ENABLED',
        PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'ENABLED' } } }
    case 'UpdateTable':
      if (Object.keys(data).every((k) => k === 'TableName' || k === 'StreamSpecification')) {
        return { TableDescription: (await dynamo('DescribeTable', { TableName: data.TableName })).Table }
      }
  }
  return undefined
}

function send (res, status, headers, body) {
  res.writeHead(status, headers)
  res.end(body)
}

const front = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', async () => {
    const body = Buffer.concat(chunks)
    const target = req.headers['x-amz-target'] || ''
    try {
      if (!target.startsWith(API)) {
        const answer = await forward(other.hostname, other.port, req, body)
        return send(res, answer.status, answer.headers, answer.body)
      }
      const operation = target.slice(API.length)
      const data = body.length ? JSON.parse(body.toString()) : {}
      const result = await handled(operation, data)
      if (result !== undefined) {
        return send(res, 200, { 'content-type': 'application/x-amz-json-1.0' }, JSON.stringify(result))
      }
      const answer = await forward('127.0.0.1', innerPort, req, body)
      const headers = { ...answer.headers }
      delete headers.connection
      return send(res, answer.status, headers, answer.body)
    }
    catch (err) {
      const status = err.status || 500
      const payload = err.body || { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: String(err && err.stack || err) }
      return send(res, status, { 'content-type': 'application/x-amz-json-1.0' }, JSON.stringify(payload))
    }
  })
})
front.keepAliveTimeout = 60000

inner.listen(0, '127.0.0.1', () => {
  innerPort = inner.address().port
  front.listen(Number(option('port', '0')), '127.0.0.1', () => {
    process.stdout.write('listening ' + front.address().port + '\n')
  })
})

function stop () {
  front.close()
  inner.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 5000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
