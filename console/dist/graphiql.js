// Init script of the hub's GraphiQL page (served as /console/graphiql.js; the page loads React,
// ReactDOM and GraphiQL from /console/vendor/graphiql/, never from the internet).
// The console's access token (sessionStorage 'c360.token', same tab) becomes the default headers.
(function () {
  'use strict';
  var token = null;
  try {
    token = window.sessionStorage.getItem('c360.token');
  } catch (e) {
    token = null;
  }
  var wsProto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var options = {
    url: '/graphql',
    subscriptionUrl: wsProto + '//' + window.location.host + '/graphql/ws',
  };
  if (token) options.wsConnectionParams = { Authorization: 'Bearer ' + token, 'X-C360-Purpose': 'SERVICE' };
  var fetcher = window.GraphiQL.createFetcher(options);
  var props = {
    fetcher: fetcher,
    shouldPersistHeaders: false,
    defaultQuery:
      '# c360: the customer 360 over GraphQL. Send the token of a role in the headers below\n' +
      '# (the console fills them in when you come from it).\n\n' +
      'query Me {\n  viewer { subject role staffId branchId capabilities deniedClasses }\n}\n\n' +
      'query Customer {\n  customer(id: "1000000001") {\n    id name kind branch\n' +
      '    accounts { number type balance { amount currency } }\n' +
      '    loans { product outstanding { amount currency } classification }\n' +
      '    sources { system fetchedAt fromCache stale error }\n  }\n}\n',
  };
  if (token) {
    props.defaultHeaders = JSON.stringify(
      { Authorization: 'Bearer ' + token, 'X-C360-Purpose': 'SERVICE' },
      null,
      2
    );
  }
  var el = document.getElementById('graphiql');
  accessible(el);
  var h = window.React.createElement;
  window.ReactDOM.createRoot(el).render(
    h(
      window.React.Fragment,
      null,
      h('h1', { className: 'c360-sr-only' }, 'c360 GraphiQL'),
      // how to leave an editor (each editor's textarea refers to it)
      h('p', { id: 'c360-editor-keys', className: 'c360-sr-only' }, 'Press Escape, then Tab, to leave the editor. Ctrl+Enter runs the query.'),
      h(window.GraphiQL, props)
    )
  );

  // Accessibility of the vendored GraphiQL (axe-core: no serious or critical violation,
  // as for the console's own screens). GraphiQL is not patched: this script labels what it
  // leaves unlabeled, lets the keyboard leave its editors and raises its text contrast.
  function accessible(root) {
    // The page's landmark and heading: #graphiql is the main content (with the h1 and the
    // editors' key hint rendered into it above).
    root.setAttribute('role', 'main');
    root.setAttribute('aria-label', 'GraphiQL');

    // Contrast (light theme): GraphiQL's hues and its translucent greys give text of 2.5:1
    // to 4.3:1; these give at least 4.5:1 on white and on its grey panels (result pane,
    // tabs, hover). The dark theme's own rules are more specific and keep their colours.
    var css =
      '.graphiql-container,.CodeMirror-info,.CodeMirror-lint-tooltip,.graphiql-dialog,' +
      '.graphiql-dialog-overlay,.graphiql-tooltip,[data-radix-popper-content-wrapper]{' +
      '--color-primary:320,95%,38%;--color-secondary:242,51%,55%;--color-tertiary:188,100%,24%;' +
      '--color-info:208,100%,36%;--color-success:158,60%,27%;--color-warning:36,100%,28%;' +
      '--color-error:13,93%,38%;--alpha-secondary:.9;--alpha-tertiary:.8}' +
      // links inside text are told apart by more than their colour
      '.graphiql-doc-explorer-content a.graphiql-doc-explorer-type-name,' +
      '.graphiql-markdown-description a,.graphiql-markdown-deprecation a{text-decoration:underline}' +
      // a focused scroll area shows it has the focus
      '.CodeMirror-scroll:focus-visible{outline:2px solid hsl(var(--color-info));outline-offset:-2px}' +
      '.c360-sr-only{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;' +
      'overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}';
    var style = document.createElement('style');
    style.textContent = css;
    document.head.appendChild(style);

    // Leaving an editor from the keyboard: CodeMirror keeps Tab for itself (indentation), so
    // as in CodeMirror 6, Escape then Tab (or Shift+Tab) moves the focus on.
    var released = null;
    document.addEventListener(
      'keydown',
      function (e) {
        var t = e.target;
        if (!t || t.tagName !== 'TEXTAREA' || !t.closest('.CodeMirror')) {
          released = null;
          return;
        }
        if (e.key === 'Escape') {
          released = t;
        } else if (e.key === 'Tab' && released === t && !e.ctrlKey && !e.altKey && !e.metaKey) {
          // CodeMirror never sees this Tab: the browser moves the focus.
          released = null;
          e.stopImmediatePropagation();
        } else if (e.key !== 'Shift') {
          released = null;
        }
      },
      true
    );

    function editorName(cm) {
      if (cm.closest('.graphiql-query-editor')) return 'Query editor';
      if (cm.closest('.result-window')) return 'Result';
      var editor = cm.closest('.graphiql-editor');
      var tool = editor && editor.closest('.graphiql-editor-tool');
      if (tool) {
        // GraphiQL renders the variables editor, then the headers editor
        var editors = tool.querySelectorAll('.graphiql-editor');
        return editor === editors[0] ? 'Variables' : 'Headers';
      }
      return 'Editor';
    }

    function fix() {
      var i, n, name;
      // CodeMirror's hidden textarea is the editor for the keyboard and screen readers
      var cms = document.querySelectorAll('.graphiql-container .CodeMirror');
      for (i = 0; i < cms.length; i++) {
        name = editorName(cms[i]);
        var input = cms[i].querySelector('textarea');
        if (input && input.getAttribute('aria-label') !== name) {
          input.setAttribute('aria-label', name);
          input.setAttribute('aria-describedby', 'c360-editor-keys');
        }
        // the scroll area beside it can be scrolled from the keyboard
        var scroll = cms[i].querySelector('.CodeMirror-scroll');
        if (scroll && scroll.getAttribute('aria-label') !== name + ' (scroll area)') {
          scroll.setAttribute('tabindex', '0');
          scroll.setAttribute('role', 'region');
          scroll.setAttribute('aria-label', name + ' (scroll area)');
        }
      }
      // a history entry's button is named "Set active" but shows the operation's label
      var items = document.querySelectorAll('button.graphiql-history-item-label');
      for (i = 0; i < items.length; i++) {
        n = 'Set active: ' + (items[i].textContent || '').trim();
        if (items[i].getAttribute('aria-label') !== n) items[i].setAttribute('aria-label', n);
      }
      // The operation tabs: an ARIA tab may hold no button, and GraphiQL's hold two (select,
      // close), beside the "Add tab" button in the same list. They become a group of buttons,
      // the active tab's aria-current.
      var lists = document.querySelectorAll('ul.graphiql-tabs:not([role="group"])');
      for (i = 0; i < lists.length; i++) lists[i].setAttribute('role', 'group');
      var tabs = document.querySelectorAll('li.graphiql-tab');
      for (i = 0; i < tabs.length; i++) {
        if (tabs[i].getAttribute('role') !== 'none') tabs[i].setAttribute('role', 'none');
        if (tabs[i].hasAttribute('aria-selected')) tabs[i].removeAttribute('aria-selected');
        var select = tabs[i].querySelector('.graphiql-tab-button');
        var active = tabs[i].classList.contains('graphiql-tab-active');
        if (select && active && select.getAttribute('aria-current') !== 'true') select.setAttribute('aria-current', 'true');
        if (select && !active && select.hasAttribute('aria-current')) select.removeAttribute('aria-current');
      }
      // A menu or dialog (Radix) hides the rest of the page with aria-hidden, whose buttons
      // stay focusable: make them inert while it is open.
      var hidden = document.querySelectorAll('[data-aria-hidden="true"][aria-hidden="true"]:not([inert])');
      for (i = 0; i < hidden.length; i++) {
        hidden[i].setAttribute('inert', '');
        hidden[i].setAttribute('data-c360-inert', '');
      }
      var shown = document.querySelectorAll('[data-c360-inert]:not([aria-hidden="true"])');
      for (i = 0; i < shown.length; i++) {
        shown[i].removeAttribute('inert');
        shown[i].removeAttribute('data-c360-inert');
      }
    }

    // GraphiQL renders tabs, the docs, the history, the result and dialogs as it goes: every
    // change of the page's elements, and of the few attributes fixed above, runs one pass (a
    // microtask after the change, so a menu's inert is lifted before focus returns to its
    // button); a pass that changes nothing wakes nothing.
    new MutationObserver(fix).observe(document.body, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
      attributeFilter: ['role', 'aria-selected', 'aria-hidden', 'aria-label'],
    });
    fix();
  }
})();
