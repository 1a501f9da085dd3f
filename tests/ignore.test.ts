// Ignore rules: the built-ins of PRODUCT.md §3, the stateDir, and user .gitignore patterns.

import test from 'ava';
import { BUILTIN_IGNORES, createIgnore, IGNORE_CACHE_LIMIT, rememberAnswers } from '../agent/ignore.js';

test('built-ins ignore the agent and editor files anywhere in the tree', (t) => {
  const m = createIgnore({ patterns: [] });
  const ignored = [
    '.sync-agent-tmp-3f9a',
    'deep/dir/.sync-agent-tmp-x',
    'notes.txt.swp',
    'a/.notes.txt.swp',
    'draft.txt~',
    '4913',
    'src/4913',
    '~$report.docx',
    '.DS_Store',
    'photos/.DS_Store',
    'photos/Thumbs.db',
    '.sync-agent-trash/20240101-000000/a.txt',
    'sub/.sync-agent-trash/x',
  ];
  for (const p of ignored) t.true(m.ignores(p), p);
  t.true(m.ignores('.sync-agent-trash', true));
  const kept = ['notes.txt', '49130', 'a4913', 'report~.docx', 'swp', 'Thumbs.db.txt', '.sync-agent-trash', 'sync-agent-tmp-x', ''];
  for (const p of kept) t.false(m.ignores(p), p);
  t.true(BUILTIN_IGNORES.includes('.sync-agent-tmp-*'));
  t.true(BUILTIN_IGNORES.includes('.sync-agent-trash/'));
});

test('the stateDir is ignored when it lies inside the root, whatever the spelling', (t) => {
  for (const stateDirRel of ['.sync-agent', './.sync-agent/', '.sync-agent/']) {
    const m = createIgnore({ patterns: [], stateDirRel });
    t.true(m.ignores('.sync-agent', true), stateDirRel);
    t.true(m.ignores('.sync-agent/manifest-docs.json'), stateDirRel);
    t.false(m.ignores('.sync-agent-notes.txt'), stateDirRel);
  }
  const nested = createIgnore({ patterns: [], stateDirRel: 'var/state' });
  t.true(nested.ignores('var/state/lock'));
  t.false(nested.ignores('var/other'));
  t.false(nested.ignores('state/lock'), 'anchored at the root, not matched anywhere');
  // A stateDir outside the root (or the root itself) ignores nothing extra.
  t.false(createIgnore({ patterns: [], stateDirRel: '../elsewhere' }).ignores('elsewhere/x'));
  t.false(createIgnore({ patterns: [], stateDirRel: '' }).ignores('a.txt'));
});

test('user patterns: globs, folders, negation, anchoring, case', (t) => {
  const m = createIgnore({ patterns: ['*.tmp', '!keep.tmp', 'node_modules/', '/build', '# a comment', '', 'logs/**/*.log'] });
  t.true(m.ignores('a.tmp'));
  t.true(m.ignores('x/y/b.tmp'));
  t.false(m.ignores('keep.tmp'), 'negation re-includes');
  t.false(m.ignores('A.TMP'), 'case-sensitive, like git on Linux');
  t.true(m.ignores('node_modules', true));
  t.true(m.ignores('node_modules/pkg/index.js'), 'everything under an ignored folder');
  t.true(m.ignores('app/node_modules/x.js'));
  t.false(m.ignores('node_modules'), 'a trailing-slash pattern does not match a file');
  t.true(m.ignores('build'));
  t.false(m.ignores('src/build'), 'a leading slash anchors at the root');
  t.true(m.ignores('logs/2024/01/app.log'));
  t.false(m.ignores('logs/app.txt'));
  t.false(m.ignores('# a comment'));
});

test('a user can re-include editor files but never the agent own files', (t) => {
  const m = createIgnore({ patterns: ['!*.swp', '!.DS_Store', '!.sync-agent-tmp-*', '!.sync-agent-trash/'], stateDirRel: '.sync-agent' });
  t.false(m.ignores('vim.swp'));
  t.false(m.ignores('.DS_Store'));
  t.true(m.ignores('.sync-agent-tmp-abc'));
  t.true(m.ignores('.sync-agent-trash/x'));
  t.true(m.ignores('.sync-agent/lock'));
});

test('answers stay right past the point where the matcher drops its cache', (t) => {
  // The matcher is rebuilt every IGNORE_CACHE_LIMIT questions (the `ignore` package would
  // otherwise cache every name for the daemon's life): the answers must not change across it.
  const m = createIgnore({ patterns: ['build/', '*.log', '!keep.log', '/top.txt'] });
  const expect = (i: number): [string, boolean, boolean] => {
    switch (i % 5) {
      case 0: return [`d${i}/build`, true, true];
      case 1: return [`d${i}/build/x${i}.o`, false, true];
      case 2: return [`d${i}/x${i}.log`, false, true];
      case 3: return [`d${i}/keep.log`, false, false];
      default: return [i % 2 === 0 ? 'top.txt' : `d${i}/top.txt`, false, i % 2 === 0];
    }
  };
  let wrong = 0;
  for (let i = 0; i < 3 * IGNORE_CACHE_LIMIT + 7; i++) {
    const [p, isDir, ignored] = expect(i);
    if (m.ignores(p, isDir) !== ignored) wrong++;
  }
  t.is(wrong, 0);
});

test('one pass remembers its answers without mixing a folder with a file of the same name', (t) => {
  const m = rememberAnswers(createIgnore({ patterns: ['build/', '*.log', '!keep.log'] }));
  for (let round = 0; round < 2; round++) {
    t.true(m.ignores('build', true));
    t.false(m.ignores('build', false));
    t.true(m.ignores('a/x.log'));
    t.false(m.ignores('a/keep.log'));
    t.true(m.ignores('.sync-agent-trash', true));
  }
});

test('without a ! rule the agent and user patterns still ignore what each would alone', (t) => {
  const m = createIgnore({ patterns: ['build/', '*.log', '/top.txt'] });
  for (const [p, isDir] of [['.sync-agent-tmp-1', false], ['.sync-agent-trash/x', false], ['d/.DS_Store', false], ['d/build', true], ['d/build/x.o', false], ['d/x.log', false], ['top.txt', false]] as const) {
    t.true(m.ignores(p, isDir), p);
  }
  for (const [p, isDir] of [['d/build', false], ['d/top.txt', false], ['d/x.txt', false], ['logs', true]] as const) t.false(m.ignores(p, isDir), p);
});
