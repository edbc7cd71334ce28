// Prompts for llm mode: from a file, or generated to a target input length.
import { readFileSync } from 'node:fs'
import { UsageError } from '../core/errors.ts'
import { rng } from './schedule.ts'

export interface ChatMessage { role: string; content: string }

export interface Prompt {
  messages: ChatMessage[]
  /** Input tokens as far as known before the server says (usage.prompt_tokens wins). */
  tokens: number
}

// Short common words: with their leading space each is one token in the GPT, Llama and Qwen
// vocabularies, so N words make a prompt of about N tokens.
const WORDS = ('time year people way day man thing woman life child world school state family student group country problem hand part place case week company system program question work government number night point home water room mother area money story fact month lot right study book eye job word business issue side kind head house service friend father power hour game line end member law car city community name president team minute idea kid body information back parent face others level office door health person art war history party result change morning reason research girl guy moment air teacher force education').split(' ')

/** Tokens of a text when no tokenizer is at hand: ~4 characters a token (OpenAI's rule of thumb). */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4))
}

/** count prompts of about `tokens` input tokens each, all different (no prefix-cache hits). */
export function syntheticPrompts(count: number, tokens: number, seed: number): Prompt[] {
  const random = rng(seed)
  const intro = 'Continue this list of words with a long story:'
  const introTokens = 10
  const n = Math.max(1, tokens - introTokens)
  return Array.from({ length: count }, (_, i) => {
    const words = [String(i)]
    for (let w = 1; w < n; w++) words.push(WORDS[Math.floor(random() * WORDS.length)]!)
    return { messages: [{ role: 'user', content: `${intro} ${words.join(' ')}` }], tokens: introTokens + n }
  })
}

/**
 * Prompts from a file: .jsonl ({"prompt": "..."} or {"messages": [...]} a line), .json (an array of
 * strings or such objects), anything else one prompt a line. Blank lines are skipped.
 */
export function readPrompts(file: string): Prompt[] {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (e) { throw new UsageError(`--prompts: cannot read ${file}: ${(e as Error).message}`) }
  let items: unknown[]
  try {
    if (file.endsWith('.json')) items = JSON.parse(text) as unknown[]
    else if (file.endsWith('.jsonl')) items = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown)
    else items = text.split('\n').map((l) => l.trim()).filter(Boolean)
  } catch (e) {
    throw new UsageError(`--prompts: ${file} is not valid JSON: ${(e as Error).message}`)
  }
  if (!Array.isArray(items) || items.length === 0) throw new UsageError(`--prompts: ${file} holds no prompts`)
  return items.map((item, i) => toPrompt(item, `${file}: prompt ${i + 1}`))
}

function toPrompt(item: unknown, where: string): Prompt {
  if (typeof item === 'string') return { messages: [{ role: 'user', content: item }], tokens: estimateTokens(item) }
  const o = item as { prompt?: unknown; messages?: unknown }
  if (o && typeof o.prompt === 'string') return toPrompt(o.prompt, where)
  if (o && Array.isArray(o.messages) && o.messages.every((m) => typeof m?.role === 'string' && typeof m?.content === 'string')) {
    const messages = o.messages as ChatMessage[]
    return { messages, tokens: messages.reduce((s, m) => s + estimateTokens(m.content) + 4, 0) }
  }
  throw new UsageError(`${where}: expected a string, {"prompt": "..."} or {"messages": [{"role", "content"}]}`)
}
